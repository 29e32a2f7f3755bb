//! wsdoctor source: lint (being built).
