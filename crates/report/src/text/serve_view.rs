//! Text rendering for `wsdoctor serve` (being built).
