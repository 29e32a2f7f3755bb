//! wsdoctor source: logs (being built).
