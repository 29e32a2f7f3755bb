//! Evidence of how clients reconnect (being built).
