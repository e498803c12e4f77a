namespace DiskImage.Customization;

/// <summary>Options virt-customize accepts that change nothing here; each leaves a note in the result.</summary>
internal sealed class NoteOperation : CustomizeOperation
{
    private readonly string _note;

    public NoteOperation(string option, string? argument, string note)
        : base(option, argument) => _note = note;

    public override void Apply(CustomizeContext context) => context.Notes.Add($"{this}: {_note}");
}
