// placeholder
namespace lazarus { int engine_placeholder() { return 0; } }
