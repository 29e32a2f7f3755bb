//! Text rendering for `wsdoctor reconnect`, `storm` and `flow` (being built).
