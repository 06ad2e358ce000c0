//! The interactive shell of `bydelsfakta sql`: line editing and a history file (rustyline),
//! statements over several lines up to a `;`, and a few commands of its own. Fed through a
//! pipe it reads the same lines without prompts, and runs a last statement that lacks its
//! `;` at the end of the input.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;

use datafusion::arrow::array::{RecordBatch, StringArray, UInt64Array};
use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::logical_expr::Documentation;
use rustyline::error::ReadlineError;

use super::output::{Format, render};
use bydelsfakta_scheduler_client::logging;
use bydelsfakta_scheduler_client::sql::{SqlError, SqlSession, StatementResult};

const PROMPT: &str = "bydelsfakta> ";
const CONTINUATION: &str = "         -> ";

pub const HELP: &str = "\
Statements end with ';' and may span lines. Only queries run: the datasets are read-only.
  \\d            list the tables (every dataset: <name> is its latest edition,
                <name>__editions every edition, with columns version and edition)
  \\d <table>    describe a table's columns
  \\functions    list Bydelsfakta's own functions (SHOW FUNCTIONS lists them all)
  \\?            this help
  \\q            quit (also quit, exit, Ctrl-D)
";

/// A shell command (a line starting with `\`, or quit/exit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Quit,
    Tables,
    Describe(String),
    Functions,
    Help,
    Unknown(String),
}

/// What a line of input completes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Command(Command),
    /// One or more statements, each ended by `;`.
    Statements(String),
    /// A statement goes on on the next line.
    More,
}

/// The statement being typed, line by line.
#[derive(Debug, Default)]
pub struct Buffer {
    lines: Vec<String>,
}

impl Buffer {
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Takes one line of input.
    pub fn push(&mut self, line: &str) -> Input {
        let trimmed = line.trim();
        if self.lines.is_empty() {
            if trimmed.is_empty() {
                return Input::More;
            }
            if let Some(command) = command(trimmed) {
                return Input::Command(command);
            }
        }
        self.lines.push(line.to_string());
        if trimmed.ends_with(';') {
            Input::Statements(self.take())
        } else {
            Input::More
        }
    }

    /// Whatever was typed so far, leaving the buffer empty.
    pub fn take(&mut self) -> String {
        std::mem::take(&mut self.lines).join("\n")
    }
}

fn command(line: &str) -> Option<Command> {
    let line = line.trim_end_matches(';').trim();
    if line.eq_ignore_ascii_case("quit") || line.eq_ignore_ascii_case("exit") {
        return Some(Command::Quit);
    }
    let rest = line.strip_prefix('\\')?;
    let mut words = rest.split_whitespace();
    let name = words.next().unwrap_or_default();
    let argument = words.next();
    Some(match (name, argument) {
        ("q" | "quit", _) => Command::Quit,
        ("d", None) => Command::Tables,
        ("d", Some(table)) => Command::Describe(table.trim_matches('"').to_string()),
        ("functions" | "df", _) => Command::Functions,
        ("?" | "h" | "help", _) => Command::Help,
        _ => Command::Unknown(line.to_string()),
    })
}

/// How the shell runs.
#[derive(Debug, Clone)]
pub struct ShellOptions {
    pub format: Format,
    /// The history file (interactive use only).
    pub history: Option<PathBuf>,
}

/// The default history file: `~/.bydelsfakta_sql_history`.
pub fn default_history() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".bydelsfakta_sql_history"))
}

/// Runs the shell until quit or the end of the input; returns how many statements or
/// commands failed (each failure is reported on stderr and the shell goes on).
pub async fn run(session: &SqlSession, options: &ShellOptions) -> anyhow::Result<usize> {
    let interactive = std::io::stdin().is_terminal();
    let config = rustyline::Config::builder().auto_add_history(false).build();
    let mut editor = rustyline::DefaultEditor::with_config(config)?;
    let history = options.history.as_ref().filter(|_| interactive);
    if let Some(path) = history {
        // A missing history file is the first session, not an error.
        let _ = editor.load_history(path);
    }
    if interactive {
        let set = session.tables();
        let unavailable = match set.unavailable.len() {
            0 => String::new(),
            n => format!(" ({n} not available: \\d says why)"),
        };
        println!(
            "{} tables from the bucket{unavailable}; \\? for help, \\q to quit.",
            set.tables.len()
        );
    }
    let mut buffer = Buffer::default();
    let mut failures = 0;
    loop {
        let prompt = if buffer.is_empty() {
            PROMPT
        } else {
            CONTINUATION
        };
        // The editor blocks on the terminal; the queries run on this runtime meanwhile.
        let line = tokio::task::block_in_place(|| editor.readline(prompt));
        let input = match line {
            Ok(line) => buffer.push(&line),
            Err(ReadlineError::Interrupted) => {
                buffer.take();
                continue;
            }
            Err(ReadlineError::Eof) if buffer.is_empty() => break,
            Err(ReadlineError::Eof) => Input::Statements(buffer.take()),
            Err(e) => return Err(e.into()),
        };
        let outcome = match input {
            Input::More => continue,
            Input::Command(Command::Quit) => break,
            Input::Command(command) => run_command(session, &command, options.format).await,
            Input::Statements(sql) => {
                if history.is_some() {
                    editor.add_history_entry(sql.replace('\n', " "))?;
                }
                run_statements(session, &sql, options.format).await
            }
        };
        match outcome {
            Ok(text) => {
                if !print(&text)? {
                    break;
                }
            }
            Err(e) => {
                failures += 1;
                logging::error(&e.to_string(), None);
            }
        }
    }
    if let Some(path) = history
        && let Err(e) = editor.save_history(path)
    {
        logging::warning(&format!("history file {}: {e}", path.display()));
    }
    Ok(failures)
}

/// Writes to stdout; false when the reader has gone (a closed pipe).
fn print(text: &str) -> std::io::Result<bool> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(e),
    }
}

/// Every statement's result, in `format`.
pub async fn run_statements(
    session: &SqlSession,
    sql: &str,
    format: Format,
) -> Result<String, SqlError> {
    let mut text = String::new();
    for result in session.run(sql).await? {
        text.push_str(&render(&result, format)?);
    }
    Ok(text)
}

/// A shell command's output, in `format`.
pub async fn run_command(
    session: &SqlSession,
    command: &Command,
    format: Format,
) -> Result<String, SqlError> {
    match command {
        Command::Quit => Ok(String::new()),
        Command::Help => Ok(HELP.to_string()),
        Command::Unknown(line) => Err(SqlError::Output(format!(
            "unknown command '{line}'; \\? lists the commands"
        ))),
        Command::Tables => render(&tables_listing(session)?, format),
        Command::Functions => render(&functions_listing()?, format),
        Command::Describe(name) => {
            let table = session.table(name)?;
            run_statements(session, &format!("DESCRIBE \"{}\"", table.name), format).await
        }
    }
}

fn strings(values: Vec<String>) -> Arc<StringArray> {
    Arc::new(StringArray::from(values))
}

fn listing(
    columns: Vec<(&str, Arc<dyn datafusion::arrow::array::Array>)>,
) -> Result<StatementResult, SqlError> {
    let schema = Arc::new(Schema::new(
        columns
            .iter()
            .map(|(name, array)| {
                Field::new(*name, array.data_type().clone(), array.null_count() > 0)
            })
            .collect::<Vec<_>>(),
    ));
    let batch = RecordBatch::try_new(
        schema.clone(),
        columns.into_iter().map(|(_, a)| a).collect(),
    )
    .map_err(|e| SqlError::Output(e.to_string()))?;
    Ok(StatementResult {
        schema,
        batches: vec![batch],
    })
}

/// `\d`: every table, its dataset, edition(s) and number of columns; then every table that
/// could not be made, with why in place of its editions and no columns.
pub fn tables_listing(session: &SqlSession) -> Result<StatementResult, SqlError> {
    let set = session.tables();
    let (tables, unavailable) = (&set.tables, &set.unavailable);
    let column = |made: Vec<String>, refused: Vec<String>| strings([made, refused].concat());
    listing(vec![
        (
            "table",
            column(
                tables.iter().map(|t| t.name.clone()).collect(),
                unavailable.iter().map(|t| t.name.clone()).collect(),
            ),
        ),
        (
            "dataset",
            column(
                tables.iter().map(|t| t.dataset.clone()).collect(),
                unavailable.iter().map(|t| t.dataset.clone()).collect(),
            ),
        ),
        (
            "editions",
            column(
                tables.iter().map(|t| t.editions.clone()).collect(),
                unavailable
                    .iter()
                    .map(|t| format!("not available: {}", t.reason))
                    .collect(),
            ),
        ),
        (
            "columns",
            Arc::new(UInt64Array::from(
                tables
                    .iter()
                    .map(|t| Some(t.schema().fields().len() as u64))
                    .chain(unavailable.iter().map(|_| None))
                    .collect::<Vec<_>>(),
            )),
        ),
    ])
}

/// `\functions`: our scalar and aggregate functions, with their syntax and description.
pub fn functions_listing() -> Result<StatementResult, SqlError> {
    let row = |name: &str, kind: &'static str, doc: Option<&Documentation>| {
        (
            name.to_string(),
            kind,
            doc.map(|d| d.syntax_example.clone()).unwrap_or_default(),
            doc.map(|d| d.description.clone()).unwrap_or_default(),
        )
    };
    let rows: Vec<(String, &str, String, String)> = bydelsfakta_udfs::scalar_functions()
        .iter()
        .map(|f| row(f.name(), "scalar", f.documentation()))
        .chain(
            bydelsfakta_udfs::aggregate_functions()
                .iter()
                .map(|f| row(f.name(), "aggregate", f.documentation())),
        )
        .collect();
    listing(vec![
        (
            "function",
            strings(rows.iter().map(|r| r.0.clone()).collect()),
        ),
        (
            "kind",
            strings(rows.iter().map(|r| r.1.to_string()).collect()),
        ),
        (
            "syntax",
            strings(rows.iter().map(|r| r.2.clone()).collect()),
        ),
        (
            "description",
            strings(rows.iter().map(|r| r.3.clone()).collect()),
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_end_with_a_semicolon_and_may_span_lines() {
        let mut buffer = Buffer::default();
        assert_eq!(buffer.push("SELECT aar"), Input::More);
        assert_eq!(buffer.push("  FROM fodte"), Input::More);
        assert_eq!(
            buffer.push("  LIMIT 1;"),
            Input::Statements("SELECT aar\n  FROM fodte\n  LIMIT 1;".into())
        );
        assert!(buffer.is_empty());
        assert_eq!(buffer.push(""), Input::More);
        assert!(buffer.is_empty());
    }

    #[test]
    fn commands_only_start_a_statement() {
        let mut buffer = Buffer::default();
        assert_eq!(buffer.push("\\d"), Input::Command(Command::Tables));
        assert_eq!(
            buffer.push("\\d fodte"),
            Input::Command(Command::Describe("fodte".into()))
        );
        assert_eq!(
            buffer.push("\\functions"),
            Input::Command(Command::Functions)
        );
        assert_eq!(buffer.push("quit;"), Input::Command(Command::Quit));
        assert_eq!(buffer.push("\\q"), Input::Command(Command::Quit));
        assert_eq!(
            buffer.push("\\x"),
            Input::Command(Command::Unknown("\\x".into()))
        );
        assert_eq!(buffer.push("SELECT 1"), Input::More);
        // Inside a statement, a line that looks like a command is part of it.
        assert_eq!(
            buffer.push("quit;"),
            Input::Statements("SELECT 1\nquit;".into())
        );
    }
}
