//! permessage-deflate (RFC 7692) lives in [`wsdoctor_wire::deflate`]; it is
//! re-exported here so every path into `conn` keeps working.

pub use wsdoctor_wire::deflate::*;
