"""Reading VOPI: the read-only event source and the hole bookkeeping (the engine layer's home)."""
