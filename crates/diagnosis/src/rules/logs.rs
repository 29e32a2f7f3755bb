//! Rules for this source (being built); pure, no I/O.
