//! How many bytes the kernel still holds for one of our TCP sockets: read
//! from `/proc/net/tcp` by `wsdoctor_wire_io::kernel_queue`, which the hold
//! pool uses too (its close-all reads the table once for every unanswered
//! close); the tokio driver asks here.

pub use wsdoctor_wire_io::kernel_queue::{kernel_queues, KernelQueues};
