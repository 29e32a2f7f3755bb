//! Rules for reconnect behaviour, storms and message flow (being built); pure.
