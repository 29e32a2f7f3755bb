//! Evidence for this source (being built).
