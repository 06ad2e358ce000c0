//! What one ad-hoc SQL statement may cost: bytes of text, operators and nesting (a deep
//! statement is refused before it is parsed, rather than overflowing the stack while it is
//! planned), memory, and time.

use std::time::Duration;

use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

/// The limits of a SQL session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqlLimits {
    /// A statement that runs longer is stopped.
    pub statement_timeout: Duration,
    /// Memory for one statement's operators and its result.
    pub memory_limit: usize,
    /// Bytes of SQL text in one run.
    pub max_text_bytes: usize,
    /// Operators (`+`, `=`, `AND`, `OR`, `UNION`, ...) in one run: a chain of them nests as
    /// deep as it is long when planned.
    pub max_operators: usize,
    /// Parentheses (and CASEs) within each other: below the SQL parser's own recursion
    /// limit (50), which words its refusal less plainly.
    pub max_nesting: usize,
}

impl SqlLimits {
    /// The CLI's defaults: five minutes, half the machine's memory up to 4 GiB.
    pub fn cli() -> Self {
        Self {
            statement_timeout: Duration::from_secs(300),
            memory_limit: half_the_memory().min(4 << 30),
            max_text_bytes: 1 << 20,
            max_operators: 1000,
            max_nesting: 40,
        }
    }

    /// The scheduler's Flight SQL: a minute, and half the CLI's memory.
    pub fn flight_sql() -> Self {
        let cli = Self::cli();
        Self {
            statement_timeout: Duration::from_secs(60),
            memory_limit: cli.memory_limit / 2,
            ..cli
        }
    }

    /// The most bytes one call of a string function may make: a quarter of the memory
    /// limit, as its result is copied on its way out.
    pub fn string_result_limit(&self) -> usize {
        self.memory_limit / 4
    }

    /// Whether `sql` is within the size and depth limits; the error says which and how far.
    pub fn check_shape(&self, sql: &str) -> Result<(), String> {
        if sql.len() > self.max_text_bytes {
            return Err(format!(
                "the statements hold {} bytes; at most {} are taken",
                sql.len(),
                self.max_text_bytes
            ));
        }
        // The tokenizer works in a loop, whatever the depth: safe on any text.
        let Ok(tokens) = Tokenizer::new(&GenericDialect {}, sql).tokenize() else {
            // Malformed text: the parser names the problem.
            return Ok(());
        };
        let (mut operators, mut depth, mut deepest) = (0, 0usize, 0usize);
        for token in &tokens {
            match token {
                // A CASE nests like a parenthesis, and the parser recurses on both.
                Token::LParen => {
                    depth += 1;
                    deepest = deepest.max(depth);
                }
                Token::Word(w) if w.keyword == Keyword::CASE => {
                    depth += 1;
                    deepest = deepest.max(depth);
                }
                Token::Word(w) if w.keyword == Keyword::END => depth = depth.saturating_sub(1),
                Token::RParen => depth = depth.saturating_sub(1),
                Token::Word(w)
                    if matches!(
                        w.keyword,
                        Keyword::AND
                            | Keyword::OR
                            | Keyword::UNION
                            | Keyword::INTERSECT
                            | Keyword::EXCEPT
                    ) =>
                {
                    operators += 1
                }
                Token::Plus
                | Token::Minus
                | Token::Mul
                | Token::Div
                | Token::Mod
                | Token::StringConcat
                | Token::Eq
                | Token::DoubleEq
                | Token::Neq
                | Token::Lt
                | Token::Gt
                | Token::LtEq
                | Token::GtEq => operators += 1,
                _ => {}
            }
        }
        if operators > self.max_operators {
            return Err(format!(
                "the statements hold {operators} operators (+, =, AND, OR, UNION, ...); at most {} are taken",
                self.max_operators
            ));
        }
        if deepest > self.max_nesting {
            return Err(format!(
                "the statements nest parentheses or CASEs {deepest} deep; at most {} are taken",
                self.max_nesting
            ));
        }
        Ok(())
    }
}

/// Half the machine's memory (`/proc/meminfo`), or 4 GiB where that cannot be read.
fn half_the_memory() -> usize {
    let total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
            let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib * 1024)
        });
    total.map_or(4 << 30, |bytes| bytes / 2)
}

/// A byte size as people write it: `512MB`, `2GB`, `1.5GiB`, `1000000`.
pub fn parse_size(text: &str) -> Result<usize, String> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let factor: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        _ => return Err(format!("'{text}' is not a size (say 512MB or 2GB)")),
    };
    number
        .parse::<f64>()
        .ok()
        .filter(|n| *n > 0.0)
        .map(|n| (n * factor) as usize)
        .ok_or_else(|| format!("'{text}' is not a size (say 512MB or 2GB)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_and_deep_statements_are_refused_before_parsing() {
        let limits = SqlLimits::cli();
        limits
            .check_shape("SELECT a + b FROM t WHERE c = 1 AND d < 2")
            .unwrap();
        let chain = format!("SELECT {}", vec!["1"; 100_000].join("+"));
        let e = limits.check_shape(&chain).unwrap_err();
        assert!(
            e.contains("99999 operators") && e.contains("at most 1000"),
            "{e}"
        );
        let unions = vec!["SELECT 1"; 5_000].join(" UNION ALL ");
        assert!(
            limits
                .check_shape(&unions)
                .unwrap_err()
                .contains("4999 operators")
        );
        let nested = format!("SELECT {}1{}", "(".repeat(500), ")".repeat(500));
        assert!(
            limits
                .check_shape(&nested)
                .unwrap_err()
                .contains("500 deep")
        );
        let long = "x".repeat(2 << 20);
        assert!(limits.check_shape(&long).unwrap_err().contains("bytes"));
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(parse_size("512MB").unwrap(), 512 << 20);
        assert_eq!(parse_size("2 GiB").unwrap(), 2 << 30);
        assert_eq!(parse_size("1000").unwrap(), 1000);
        assert!(parse_size("lots").unwrap_err().contains("lots"));
        assert!(parse_size("0").is_err());
    }
}
