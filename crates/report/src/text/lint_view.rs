//! Text rendering for `wsdoctor lint` (being built).
