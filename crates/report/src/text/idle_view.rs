//! Text rendering for `wsdoctor idle` (being built).
