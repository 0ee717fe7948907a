//! The command line as a user meets it: help text, flag checking, exit codes,
//! completions and man pages (`usage`); what a QA pass found with bad files, closed pipes
//! and messages too large (`bad_input`); `mqtk passwd` files against mosquitto's own
//! tools (`passwd`). One test binary; the harness is `support` (tests/support).

mod bad_input;
mod passwd;
mod usage;
