//! Happy Eyeballs (RFC 8305) as a sans-IO state machine.
#![deny(missing_docs, missing_debug_implementations, unsafe_code)]
