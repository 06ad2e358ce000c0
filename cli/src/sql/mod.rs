//! The command line's side of ad-hoc SQL: results as a table, CSV, JSON or NDJSON
//! ([`output`]), and the interactive shell ([`shell`]). The session, its tables, catalog,
//! guard and limits are the client library's (`bydelsfakta_scheduler_client::sql`), which
//! the scheduler's Flight SQL serves too.

pub mod output;
pub mod shell;
