using System.Reflection;
using System.Reflection.Emit;
using System.Reflection.Metadata;
using System.Reflection.Metadata.Ecma335;
using System.Reflection.PortableExecutable;
using System.Text;

// Build step of every library project (Directory.Build.targets, DeriveStageCode): for each stage type of the
// assembly just compiled, the repository's source files that its code can reach, read from the IL of the project's
// assemblies and the document table of their portable PDBs. Written beside the assembly; CodeManifest reads it.
//
//   CodeDeps --root DIR --out FILE --assembly DLL [--reference DLL]... [--opaque PREFIX]... [--follow TYPE]... [--explain FILE]
//
// --opaque: a type (or, ending in '.', a namespace) whose code is not followed; --follow: an exception to it;
// --explain: print to stderr how each stage reaches FILE (a chain of methods).
// The result over-approximates (see docs/engine.md, "How code dependencies are derived").
var options = new Dictionary<string, List<string>>();
for (int i = 0; i + 1 < args.Length; i += 2)
{
    if (!args[i].StartsWith("--")) { Console.Error.WriteLine($"CodeDeps: unexpected argument '{args[i]}'"); return 2; }
    (options.TryGetValue(args[i][2..], out var list) ? list : options[args[i][2..]] = []).Add(args[i + 1]);
}
List<string> Option(string name) => options.GetValueOrDefault(name) ?? [];
if (Option("root").Count != 1 || Option("out").Count != 1 || Option("assembly").Count != 1)
{
    Console.Error.WriteLine("usage: CodeDeps --root DIR --out FILE --assembly DLL [--reference DLL]... [--opaque PREFIX]... [--follow TYPE]...");
    return 2;
}

var program = new Analysis(Path.GetFullPath(Option("root")[0]), Option("opaque"), Option("follow")) { Explain = Option("explain").FirstOrDefault() };
var main = program.Load(Option("assembly")[0]);
foreach (var reference in Option("reference")) program.Load(reference);
program.Index();

var text = new StringBuilder();
text.Append("# The project source files each stage's compiled code can reach (tools/CodeDeps, run by the build).\n");
foreach (var module in program.Modules.OrderBy(m => m.Name, StringComparer.Ordinal))
    text.Append($"assembly {module.Name} {module.Mvid}\n");
foreach (var stage in program.Stages(main).OrderBy(program.NameOf, StringComparer.Ordinal))
{
    text.Append($"stage {program.NameOf(stage)}\n");
    foreach (var file in program.Reach(stage).Order(StringComparer.Ordinal))
        text.Append(file).Append('\n');
    if (program.Explain is { } explain)
        foreach (var chain in program.Why(explain).Take(3))
            Console.Error.WriteLine($"{program.NameOf(stage)}: {chain}");
}
string output = Option("out")[0];
if (!File.Exists(output) || File.ReadAllText(output) != text.ToString())
{
    Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(output))!);
    File.WriteAllText(output, text.ToString());
}
return 0;

sealed class Module(int index, string name, Guid mvid, PEReader pe, MetadataReader md, MetadataReader pdb)
{
    public int Index { get; } = index;
    public string Name { get; } = name;
    public Guid Mvid { get; } = mvid;
    public PEReader Pe { get; } = pe;
    public MetadataReader Md { get; } = md;
    public MetadataReader Pdb { get; } = pdb;
}

readonly record struct TypeId(int Module, TypeDefinitionHandle Handle);

readonly record struct MethodId(int Module, MethodDefinitionHandle Handle);

/// <summary>A decoded type signature: the named project type it is (if any) and every project type inside it.</summary>
sealed record Sig(TypeId? Head, IReadOnlyList<TypeId> All)
{
    public static readonly Sig None = new(null, []);
    public static Sig Of(TypeId? id) => id is { } t ? new(t, [t]) : None;
}

sealed partial class Analysis(string root, List<string> opaque, List<string> follow)
{
    public List<Module> Modules { get; } = [];
    readonly Dictionary<string, TypeId> typesByName = new(StringComparer.Ordinal); // "Assembly:Ns.Outer+Inner"
    readonly Dictionary<TypeId, List<TypeId>> derived = [];
    readonly Dictionary<TypeId, TypeId?> baseOf = [];

    public Module Load(string path)
    {
        var pe = new PEReader(File.OpenRead(path));
        var md = pe.GetMetadataReader();
        string pdbPath = Path.ChangeExtension(path, ".pdb");
        if (!File.Exists(pdbPath)) throw new FileNotFoundException($"CodeDeps: no portable PDB beside {path}");
        var pdb = MetadataReaderProvider.FromPortablePdbStream(File.OpenRead(pdbPath)).GetMetadataReader();
        var module = new Module(Modules.Count, md.GetString(md.GetAssemblyDefinition().Name), md.GetGuid(md.GetModuleDefinition().Mvid), pe, md, pdb);
        Modules.Add(module);
        return module;
    }

    public void Index()
    {
        foreach (var m in Modules)
            foreach (var h in m.Md.TypeDefinitions)
                typesByName[$"{m.Name}:{FullName(m, h)}"] = new TypeId(m.Index, h);
        foreach (var m in Modules)
            foreach (var h in m.Md.TypeDefinitions)
            {
                var id = new TypeId(m.Index, h);
                var type = m.Md.GetTypeDefinition(h);
                var parent = type.BaseType.IsNil ? null : TypeOf(m, type.BaseType).Head;
                baseOf[id] = parent;
                var supers = type.GetInterfaceImplementations().Select(i => TypeOf(m, m.Md.GetInterfaceImplementation(i).Interface).Head).Append(parent);
                foreach (var super in supers.OfType<TypeId>())
                    (derived.TryGetValue(super, out var list) ? list : derived[super] = []).Add(id);
            }
    }

    static string FullName(Module m, TypeDefinitionHandle h)
    {
        var type = m.Md.GetTypeDefinition(h);
        string name = m.Md.GetString(type.Name);
        if (type.IsNested) return FullName(m, type.GetDeclaringType()) + "+" + name;
        string ns = m.Md.GetString(type.Namespace);
        return ns.Length == 0 ? name : ns + "." + name;
    }

    public string NameOf(TypeId t) => FullName(Modules[t.Module], t.Handle);

    /// <summary>The non-abstract types of <paramref name="module"/> that derive from Pipeline.Stages.Stage.</summary>
    public IEnumerable<TypeId> Stages(Module module)
    {
        foreach (var h in module.Md.TypeDefinitions)
        {
            if ((module.Md.GetTypeDefinition(h).Attributes & TypeAttributes.Abstract) != 0) continue;
            for (TypeId? t = baseOf[new TypeId(module.Index, h)]; t is { } b; t = baseOf[b])
                if (NameOf(b) == "Pipeline.Stages.Stage")
                {
                    yield return new TypeId(module.Index, h);
                    break;
                }
        }
    }

    // ---- resolving tokens to project types and methods ----

    TypeId? Resolve(Module m, TypeReferenceHandle h)
    {
        var reference = m.Md.GetTypeReference(h);
        string name = m.Md.GetString(reference.Name);
        string? scope = null;
        if (reference.ResolutionScope.Kind == HandleKind.TypeReference)
        {
            var outer = Resolve(m, (TypeReferenceHandle)reference.ResolutionScope);
            return outer is { } o && typesByName.TryGetValue($"{Modules[o.Module].Name}:{NameOf(o)}+{name}", out var nested) ? nested : null;
        }
        if (reference.ResolutionScope.Kind == HandleKind.AssemblyReference)
            scope = m.Md.GetString(m.Md.GetAssemblyReference((AssemblyReferenceHandle)reference.ResolutionScope).Name);
        else if (reference.ResolutionScope.Kind is HandleKind.ModuleDefinition)
            scope = m.Name;
        string ns = m.Md.GetString(reference.Namespace);
        return scope is not null && typesByName.TryGetValue($"{scope}:{(ns.Length == 0 ? name : ns + "." + name)}", out var id) ? id : null;
    }

    Sig TypeOf(Module m, EntityHandle h) => h.Kind switch
    {
        HandleKind.TypeDefinition => Sig.Of(new TypeId(m.Index, (TypeDefinitionHandle)h)),
        HandleKind.TypeReference => Sig.Of(Resolve(m, (TypeReferenceHandle)h)),
        HandleKind.TypeSpecification => m.Md.GetTypeSpecification((TypeSpecificationHandle)h).DecodeSignature(new SigProvider(this), m),
        _ => Sig.None,
    };

    static (string Name, int Parameters) Shape(MetadataReader md, StringHandle name, BlobHandle signature)
    {
        var blob = md.GetBlobReader(signature);
        var header = blob.ReadSignatureHeader();
        if (header.IsGeneric) blob.ReadCompressedInteger();
        return (md.GetString(name), blob.ReadCompressedInteger());
    }

    IEnumerable<MethodId> MethodsOf(TypeId t) =>
        Modules[t.Module].Md.GetTypeDefinition(t.Handle).GetMethods().Select(h => new MethodId(t.Module, h));

    (string Name, int Parameters) ShapeOf(MethodId m)
    {
        var md = Modules[m.Module].Md;
        var method = md.GetMethodDefinition(m.Handle);
        return Shape(md, method.Name, method.Signature);
    }

    /// <summary>The project methods a method token names (every overload of that name and arity; base types searched).</summary>
    List<MethodId> ResolveMethod(Module m, EntityHandle h, List<TypeId> touched, List<TypeId> live)
    {
        switch (h.Kind)
        {
            case HandleKind.MethodDefinition:
                return [new MethodId(m.Index, (MethodDefinitionHandle)h)];
            case HandleKind.MethodSpecification:
                var spec = m.Md.GetMethodSpecification((MethodSpecificationHandle)h);
                foreach (var argument in spec.DecodeSignature(new SigProvider(this), m)) live.AddRange(argument.All);
                return ResolveMethod(m, spec.Method, touched, live);
            case HandleKind.MemberReference:
                var member = m.Md.GetMemberReference((MemberReferenceHandle)h);
                if (member.GetKind() != MemberReferenceKind.Method) return [];
                var parent = TypeOf(m, member.Parent);
                touched.AddRange(parent.All);
                var shape = Shape(m.Md, member.Name, member.Signature);
                for (TypeId? t = parent.Head; t is { } type; t = baseOf[type])
                {
                    var found = MethodsOf(type).Where(x => ShapeOf(x) == shape).ToList();
                    if (found.Count > 0) return found;
                }
                return [];
            default:
                return [];
        }
    }

    TypeId? FieldOwner(Module m, EntityHandle h, List<TypeId> touched)
    {
        if (h.Kind == HandleKind.FieldDefinition)
            return new TypeId(m.Index, m.Md.GetFieldDefinition((FieldDefinitionHandle)h).GetDeclaringType());
        if (h.Kind != HandleKind.MemberReference) return null;
        var parent = TypeOf(m, m.Md.GetMemberReference((MemberReferenceHandle)h).Parent);
        touched.AddRange(parent.All);
        return parent.Head;
    }

    // ---- reachability ----

    HashSet<MethodId> reached = [];
    HashSet<TypeId> touchedTypes = [], liveTypes = [];
    HashSet<string> files = [];
    readonly Stack<MethodId> pending = new();

    bool Opaque(TypeId t)
    {
        var m = Modules[t.Module];
        var h = t.Handle;
        while (m.Md.GetTypeDefinition(h).IsNested) h = m.Md.GetTypeDefinition(h).GetDeclaringType();
        string name = FullName(m, h);
        return !follow.Contains(name) && opaque.Any(p => p.EndsWith('.') ? name.StartsWith(p, StringComparison.Ordinal) : name == p);
    }

    static bool CompilerGenerated(Module m, TypeDefinitionHandle h)
    {
        for (var type = m.Md.GetTypeDefinition(h); ; type = m.Md.GetTypeDefinition(type.GetDeclaringType()))
        {
            if (m.Md.GetString(type.Name).StartsWith('<')) return true;
            if (!type.IsNested) return false;
        }
    }

    /// <summary>The repository files the stage's code can reach, from all its own methods.</summary>
    public SortedSet<string> Reach(TypeId stage)
    {
        reached = [];
        touchedTypes = [];
        liveTypes = [];
        files = [];
        ranges = [];
        via.Clear();
        scanning = null;
        Live(stage);
        foreach (var method in MethodsOf(stage)) Reach(method);
        while (pending.TryPop(out var method)) Scan(method);
        scanning = null;
        Constants();
        return new SortedSet<string>(files, StringComparer.Ordinal);
    }

    void Reach(MethodId method)
    {
        if (!reached.Add(method)) return;
        pending.Push(method);
        if (Explain is not null) via[method] = scanning;
    }

    /// <summary>With <c>--explain</c>: for each reached method, the method whose code reached it.</summary>
    public string? Explain { get; init; }
    readonly Dictionary<MethodId, MethodId?> via = [];
    MethodId? scanning;

    public string MethodName(MethodId m) =>
        $"{NameOf(new TypeId(m.Module, Modules[m.Module].Md.GetMethodDefinition(m.Handle).GetDeclaringType()))}::{ShapeOf(m).Name}";

    /// <summary>How a file was reached: the chain of methods from the stage to one method in the file.</summary>
    public IEnumerable<string> Why(string file)
    {
        foreach (var m in reached)
            if (DocumentsOf(m).Contains(file))
            {
                var chain = new List<string>();
                for (MethodId? x = m; x is { } y && chain.Count < 40; x = via.GetValueOrDefault(y)) chain.Add(MethodName(y));
                yield return string.Join(" <- ", chain);
            }
    }

    /// <summary>A type whose static members are used: its static constructor runs.</summary>
    void Touch(TypeId t)
    {
        if (!touchedTypes.Add(t) || Opaque(t)) return;
        var m = Modules[t.Module];
        var type = m.Md.GetTypeDefinition(t.Handle);
        foreach (var method in MethodsOf(t))
            if (CompilerGenerated(m, t.Handle) || ShapeOf(method).Name == ".cctor") Reach(method);
        bool valueType = baseOf[t] is null && type.BaseType.Kind == HandleKind.TypeReference
            && m.Md.GetString(m.Md.GetTypeReference((TypeReferenceHandle)type.BaseType).Name) is "ValueType" or "Enum";
        if (valueType) Live(t);
        Attributes(m, type.GetCustomAttributes());
    }

    /// <summary>
    /// A type whose instances may exist: made by reached code or by the framework through reflection (a type argument,
    /// typeof, an attribute's type). Every constructor, property accessor and virtual method of it counts.
    /// </summary>
    void Live(TypeId t)
    {
        Touch(t);
        if (!liveTypes.Add(t) || Opaque(t)) return;
        var m = Modules[t.Module];
        var type = m.Md.GetTypeDefinition(t.Handle);
        foreach (var method in MethodsOf(t))
        {
            var definition = m.Md.GetMethodDefinition(method.Handle);
            if ((definition.Attributes & MethodAttributes.Virtual) != 0 || m.Md.GetString(definition.Name) == ".ctor") Reach(method);
        }
        foreach (var p in type.GetProperties())
        {
            var property = m.Md.GetPropertyDefinition(p);
            var accessors = property.GetAccessors();
            if (!accessors.Getter.IsNil) Reach(new MethodId(t.Module, accessors.Getter));
            if (!accessors.Setter.IsNil) Reach(new MethodId(t.Module, accessors.Setter));
            Attributes(m, property.GetCustomAttributes());
        }
        foreach (var f in type.GetFields()) Attributes(m, m.Md.GetFieldDefinition(f).GetCustomAttributes());
        if (baseOf[t] is { } parent) Live(parent);
    }

    /// <summary>A virtual or interface method called: every override and implementation in the project counts.</summary>
    void Overrides(MethodId method)
    {
        var (name, parameters) = ShapeOf(method);
        var owner = new TypeId(method.Module, Modules[method.Module].Md.GetMethodDefinition(method.Handle).GetDeclaringType());
        var seen = new HashSet<TypeId>();
        var queue = new Queue<TypeId>([owner]);
        while (queue.TryDequeue(out var t))
        {
            if (!seen.Add(t)) continue;
            foreach (var candidate in MethodsOf(t))
            {
                var shape = ShapeOf(candidate);
                if (shape.Parameters == parameters && (shape.Name == name || shape.Name.EndsWith("." + name, StringComparison.Ordinal)))
                    Reach(candidate);
            }
            foreach (var d in derived.GetValueOrDefault(t) ?? []) queue.Enqueue(d);
        }
    }

    /// <summary>An attribute's constructor, and every project type its arguments name (e.g. [JsonDerivedType(typeof(X))]).</summary>
    void Attributes(Module m, CustomAttributeHandleCollection attributes)
    {
        foreach (var a in attributes)
        {
            var attribute = m.Md.GetCustomAttribute(a);
            var touched = new List<TypeId>();
            foreach (var ctor in ResolveMethod(m, attribute.Constructor, touched, touched)) Reach(ctor);
            touched.ForEach(Touch);
            var blob = m.Md.GetBlobBytes(attribute.Value);
            if (blob.Length <= 4) continue;
            string text = Encoding.UTF8.GetString(blob);
            foreach (var (key, id) in typesByName)
            {
                string name = key[(key.IndexOf(':') + 1)..];
                int at = text.IndexOf(name, StringComparison.Ordinal);
                if (at >= 0 && (at + name.Length == text.Length || !(char.IsLetterOrDigit(text[at + name.Length]) || text[at + name.Length] is '_' or '.' or '+' or '`')))
                    Live(id);
            }
        }
    }

    void Scan(MethodId id)
    {
        var m = Modules[id.Module];
        var method = m.Md.GetMethodDefinition(id.Handle);
        var owner = new TypeId(id.Module, method.GetDeclaringType());
        if (Opaque(owner)) return;
        scanning = id;
        AddDocuments(id, owner);
        Touch(owner);
        Attributes(m, method.GetCustomAttributes());
        if (method.RelativeVirtualAddress == 0) return;
        var il = m.Pe.GetMethodBody(method.RelativeVirtualAddress).GetILReader();
        while (il.RemainingBytes > 0)
        {
            byte b = il.ReadByte();
            var op = b == 0xFE ? Il.Two[il.ReadByte()] : Il.One[b];
            switch (op.OperandType)
            {
                case OperandType.InlineNone: break;
                case OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar: il.ReadByte(); break;
                case OperandType.InlineVar: il.ReadInt16(); break;
                case OperandType.InlineI8 or OperandType.InlineR: il.ReadInt64(); break;
                case OperandType.InlineSwitch: int n = il.ReadInt32(); for (int i = 0; i < n; i++) il.ReadInt32(); break;
                case OperandType.InlineBrTarget or OperandType.InlineI or OperandType.ShortInlineR or OperandType.InlineString or OperandType.InlineSig:
                    il.ReadInt32(); break;
                default:
                    Token(m, op, MetadataTokens.EntityHandle(il.ReadInt32()));
                    break;
            }
        }
    }

    void Token(Module m, OpCode op, EntityHandle h)
    {
        var touched = new List<TypeId>();
        var live = new List<TypeId>();
        switch (h.Kind)
        {
            case HandleKind.MethodDefinition or HandleKind.MemberReference or HandleKind.MethodSpecification:
                foreach (var target in ResolveMethod(m, h, touched, live))
                {
                    Reach(target);
                    var owner = new TypeId(target.Module, Modules[target.Module].Md.GetMethodDefinition(target.Handle).GetDeclaringType());
                    if (op == OpCodes.Newobj) live.Add(owner);
                    bool isVirtual = (Modules[target.Module].Md.GetMethodDefinition(target.Handle).Attributes & MethodAttributes.Virtual) != 0;
                    // A stage's declaration members (Name, Upstream, ...) are the engine's: a call to an opaque type's
                    // virtual method reaches no override (a stage's own overrides are its roots anyway).
                    if (isVirtual && !Opaque(owner) && (op == OpCodes.Callvirt || op == OpCodes.Ldvirtftn || op == OpCodes.Ldtoken)) Overrides(target);
                }
                break;
            case HandleKind.FieldDefinition:
                if (FieldOwner(m, h, touched) is { } declaring) touched.Add(declaring);
                break;
            case HandleKind.TypeDefinition or HandleKind.TypeReference or HandleKind.TypeSpecification:
                (op == OpCodes.Ldtoken ? live : touched).AddRange(TypeOf(m, h).All);
                break;
        }
        if (h.Kind == HandleKind.MemberReference && m.Md.GetMemberReference((MemberReferenceHandle)h).GetKind() == MemberReferenceKind.Field
            && FieldOwner(m, h, touched) is { } fieldOwner)
            touched.Add(fieldOwner);
        touched.ForEach(Touch);
        live.ForEach(Live);
    }

    /// <summary>
    /// Constants (const fields, enum members) are copied into the IL that uses them, so no token leads to them. The
    /// source lines of the reached methods that name a type declaring constants count that type's files too; their
    /// <c>const</c> lines are read in turn (a constant made of others), until nothing new is named.
    /// </summary>
    void Constants()
    {
        constantTypes ??= [.. Modules.SelectMany(m => m.Md.TypeDefinitions
            .Where(h => !Opaque(new TypeId(m.Index, h)) && m.Md.GetTypeDefinition(h).GetFields()
                .Any(f => (m.Md.GetFieldDefinition(f).Attributes & FieldAttributes.Literal) != 0))
            .Select(h => (new System.Text.RegularExpressions.Regex($@"\b{System.Text.RegularExpressions.Regex.Escape(m.Md.GetString(m.Md.GetTypeDefinition(h).Name))}\b"),
                TypeFiles(new TypeId(m.Index, h)))))];
        var pending = new Queue<string>(ranges.Select(r => string.Join("\n", Lines(r.Key).Where((_, i) => r.Value.Any(x => x.Start <= i + 1 && i + 1 <= x.End)))));
        var added = new HashSet<int>();
        while (pending.TryDequeue(out var text))
            for (int t = 0; t < constantTypes.Count; t++)
                if (!added.Contains(t) && constantTypes[t].Name.IsMatch(text))
                {
                    added.Add(t);
                    files.UnionWith(constantTypes[t].Files);
                    foreach (var file in constantTypes[t].Files)
                        pending.Enqueue(string.Join("\n", Lines(file).Where(l => l.Contains("const "))));
                }
    }

    readonly Dictionary<string, string[]> lines = [];
    string[] Lines(string file) => lines.TryGetValue(file, out var known) ? known : lines[file] = File.ReadAllLines(Path.Combine(root, file));

    /// <summary>The line ranges of the reached methods' sequence points, by file (a whole file: 1 to int.MaxValue).</summary>
    Dictionary<string, List<(int Start, int End)>> ranges = [];

    void AddRange(string file, int start, int end) =>
        (ranges.TryGetValue(file, out var list) ? list : ranges[file] = []).Add((start, end));

    List<(System.Text.RegularExpressions.Regex Name, List<string> Files)>? constantTypes;

    /// <summary>Every repository file a type is declared in: its methods' files, or (no method body) the PDB's type documents.</summary>
    List<string> TypeFiles(TypeId t)
    {
        var m = Modules[t.Module];
        var result = MethodsOf(t).SelectMany(DocumentsOf).OfType<string>().ToHashSet();
        var typeDocuments = new Guid("932E74BC-DBA9-4478-8D46-0F32A7BAB3D3");
        foreach (var c in m.Pdb.GetCustomDebugInformation(t.Handle))
        {
            var info = m.Pdb.GetCustomDebugInformation(c);
            if (m.Pdb.GetGuid(info.Kind) != typeDocuments) continue;
            var blob = m.Pdb.GetBlobReader(info.Value);
            while (blob.RemainingBytes > 0)
                if (Document(m, MetadataTokens.DocumentHandle(blob.ReadCompressedInteger())) is { } file) result.Add(file);
        }
        return [.. result];
    }

    // ---- source files ----

    readonly Dictionary<(int, DocumentHandle), string?> documents = [];

    string? Document(Module m, DocumentHandle h)
    {
        if (documents.TryGetValue((m.Index, h), out var known)) return known;
        string path = m.Pdb.GetString(m.Pdb.GetDocument(h).Name).Replace('\\', '/');
        string? relative = path.StartsWith(root + "/", StringComparison.Ordinal) && !path.Contains("/obj/") ? path[(root.Length + 1)..] : null;
        return documents[(m.Index, h)] = relative;
    }

    IEnumerable<string?> DocumentsOf(MethodId id)
    {
        var m = Modules[id.Module];
        var info = m.Pdb.GetMethodDebugInformation(id.Handle.ToDebugInformationHandle());
        if (info.SequencePointsBlob.IsNil) return info.Document.IsNil ? [] : [Document(m, info.Document)];
        return info.GetSequencePoints().Select(p => p.Document).Distinct().Select(d => Document(m, d));
    }

    /// <summary>
    /// The files of a method's sequence points. A method without any in the repository (compiler- or generator-made:
    /// a record's members, a [GeneratedRegex]) counts every file of its type, or of the type it is nested in.
    /// </summary>
    void AddDocuments(MethodId id, TypeId owner)
    {
        var m = Modules[id.Module];
        var info = m.Pdb.GetMethodDebugInformation(id.Handle.ToDebugInformationHandle());
        bool any = false;
        if (!info.SequencePointsBlob.IsNil)
            foreach (var point in info.GetSequencePoints().Where(p => !p.IsHidden))
                if (Document(m, point.Document) is { } file)
                {
                    files.Add(file);
                    AddRange(file, point.StartLine, point.EndLine);
                    any = true;
                }
        if (any) return;
        for (var h = owner.Handle; ; h = m.Md.GetTypeDefinition(h).GetDeclaringType())
        {
            var all = MethodsOf(new TypeId(id.Module, h)).SelectMany(DocumentsOf).OfType<string>().ToList();
            foreach (var file in all) AddRange(file, 1, int.MaxValue);
            if (all.Count > 0) { files.UnionWith(all); return; }
            if (!m.Md.GetTypeDefinition(h).IsNested) return;
        }
    }
}

static class Il
{
    public static readonly OpCode[] One = new OpCode[256], Two = new OpCode[256];

    static Il()
    {
        foreach (var field in typeof(OpCodes).GetFields(BindingFlags.Public | BindingFlags.Static))
        {
            var op = (OpCode)field.GetValue(null)!;
            ushort value = (ushort)op.Value;
            if (value < 0x100) One[value] = op;
            else if ((value & 0xFF00) == 0xFE00) Two[value & 0xFF] = op;
        }
    }
}

/// <summary>Decodes signatures into the project types they name.</summary>
sealed class SigProvider(Analysis program) : ISignatureTypeProvider<Sig, Module>
{
    static Sig Inner(Sig s) => new(null, s.All);
    public Sig GetArrayType(Sig elementType, ArrayShape shape) => Inner(elementType);
    public Sig GetByReferenceType(Sig elementType) => Inner(elementType);
    public Sig GetFunctionPointerType(MethodSignature<Sig> signature) => Sig.None;
    public Sig GetGenericInstantiation(Sig genericType, System.Collections.Immutable.ImmutableArray<Sig> typeArguments) =>
        new(genericType.Head, [.. genericType.All, .. typeArguments.SelectMany(a => a.All)]);
    public Sig GetGenericMethodParameter(Module genericContext, int index) => Sig.None;
    public Sig GetGenericTypeParameter(Module genericContext, int index) => Sig.None;
    public Sig GetModifiedType(Sig modifier, Sig unmodifiedType, bool isRequired) => unmodifiedType;
    public Sig GetPinnedType(Sig elementType) => elementType;
    public Sig GetPointerType(Sig elementType) => Inner(elementType);
    public Sig GetPrimitiveType(PrimitiveTypeCode typeCode) => Sig.None;
    public Sig GetSZArrayType(Sig elementType) => Inner(elementType);
    public Sig GetTypeFromDefinition(MetadataReader reader, TypeDefinitionHandle handle, byte rawTypeKind) => program.TypeFromDefinition(reader, handle);
    public Sig GetTypeFromReference(MetadataReader reader, TypeReferenceHandle handle, byte rawTypeKind) => program.TypeFromReference(reader, handle);
    public Sig GetTypeFromSpecification(MetadataReader reader, Module genericContext, TypeSpecificationHandle handle, byte rawTypeKind) =>
        reader.GetTypeSpecification(handle).DecodeSignature(this, genericContext);
}

sealed partial class Analysis
{
    Module ModuleOf(MetadataReader reader) => Modules.First(m => m.Md == reader);
    public Sig TypeFromDefinition(MetadataReader reader, TypeDefinitionHandle handle) => Sig.Of(new TypeId(ModuleOf(reader).Index, handle));
    public Sig TypeFromReference(MetadataReader reader, TypeReferenceHandle handle) => Sig.Of(Resolve(ModuleOf(reader), handle));
}
