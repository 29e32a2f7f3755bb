//! Text rendering for `wsdoctor logs` (being built).
