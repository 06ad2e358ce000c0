//! Who may use Flight SQL: basic credentials or a bearer token, each from an environment
//! variable or a file, checked at the Flight handshake. Ballista's frontend then hands the
//! client a session token of its own for the calls that follow.

use std::path::Path;

use async_trait::async_trait;
use ballista_flight_sql::{Authenticator, Identity};
use base64::Engine as _;
use tonic::Status;
use tonic::metadata::MetadataMap;

/// The user name clients present with `BYDELSFAKTA_FLIGHT_SQL_PASSWORD`.
pub const USER_ENV: &str = "BYDELSFAKTA_FLIGHT_SQL_USER";
/// The password; `..._FILE` names a file that holds it.
pub const PASSWORD_ENV: &str = "BYDELSFAKTA_FLIGHT_SQL_PASSWORD";
/// A bearer token clients present at the handshake; `..._FILE` names a file that holds it.
pub const TOKEN_ENV: &str = "BYDELSFAKTA_FLIGHT_SQL_TOKEN";

/// The credentials Flight SQL asks for. Either kind is accepted when both are set.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    basic: Option<(String, String)>,
    token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    // Secrets stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.basic.as_ref().map(|(user, _)| user))
            .field("token", &self.token.as_ref().map(|_| "***"))
            .finish()
    }
}

impl Credentials {
    /// The credentials the environment configures, or `None` when it configures none
    /// (then any client is let in, as Ballista does by default).
    pub fn from_env() -> Result<Option<Self>, String> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, String> {
        let password = secret(&lookup, PASSWORD_ENV)?;
        let basic = match (lookup(USER_ENV), password) {
            (Some(user), Some(password)) if !user.is_empty() => Some((user, password)),
            (None, None) => None,
            _ => {
                return Err(format!(
                    "Flight SQL: set both {USER_ENV} and {PASSWORD_ENV} (or {PASSWORD_ENV}_FILE), or neither"
                ));
            }
        };
        let token = secret(&lookup, TOKEN_ENV)?;
        Ok((basic.is_some() || token.is_some()).then_some(Self { basic, token }))
    }

    fn accepts(&self, authorization: &str) -> Result<Identity, Status> {
        let refused = || Status::unauthenticated("Flight SQL: wrong user name, password or token");
        if let Some(token) = authorization.strip_prefix("Bearer ") {
            return match &self.token {
                Some(expected) if same(token.trim(), expected) => Ok(Identity::user("token")),
                _ => Err(refused()),
            };
        }
        let Some(encoded) = authorization.strip_prefix("Basic ") else {
            return Err(refused());
        };
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(refused)?;
        let (user, password) = decoded.split_once(':').ok_or_else(refused)?;
        match &self.basic {
            Some((expected_user, expected_password))
                if same(user, expected_user) & same(password, expected_password) =>
            {
                Ok(Identity::user(user))
            }
            _ => Err(refused()),
        }
    }
}

#[async_trait]
impl Authenticator for Credentials {
    async fn authenticate(&self, headers: &MetadataMap) -> Result<Identity, Status> {
        let authorization = headers
            .get("authorization")
            .and_then(|value| value.to_str().ok())
            .ok_or_else(|| {
                Status::unauthenticated(
                    "Flight SQL needs credentials: a user name and password, or a bearer token, at the handshake",
                )
            })?;
        self.accepts(authorization)
    }
}

/// A secret from `NAME` or from the file `NAME_FILE` (its last line break dropped).
fn secret(lookup: &impl Fn(&str) -> Option<String>, name: &str) -> Result<Option<String>, String> {
    let file_var = format!("{name}_FILE");
    let value = match (lookup(name), lookup(&file_var)) {
        (Some(_), Some(_)) => {
            return Err(format!("Flight SQL: set {name} or {file_var}, not both"));
        }
        (Some(value), None) => value,
        (None, Some(path)) => read_secret(Path::new(&path))
            .map_err(|e| format!("Flight SQL: {file_var} {path}: {e}"))?,
        (None, None) => return Ok(None),
    };
    if value.is_empty() {
        return Err(format!("Flight SQL: {name} is empty"));
    }
    Ok(Some(value))
}

fn read_secret(path: &Path) -> std::io::Result<String> {
    let text = std::fs::read_to_string(path)?;
    Ok(text
        .strip_suffix('\n')
        .map(|t| t.strip_suffix('\r').unwrap_or(t))
        .unwrap_or(&text)
        .to_string())
}

/// Equal, in a time that does not tell how much of a guess was right.
fn same(given: &str, expected: &str) -> bool {
    let (a, b) = (given.as_bytes(), expected.as_bytes());
    let differing = a
        .iter()
        .zip(b)
        .fold(a.len() ^ b.len(), |acc, (x, y)| acc | usize::from(x ^ y));
    differing == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    fn basic(user: &str, password: &str) -> String {
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        format!("Basic {encoded}")
    }

    #[test]
    fn nothing_configured_lets_anyone_in() {
        assert_eq!(Credentials::from_lookup(lookup(&[])), Ok(None));
    }

    #[test]
    fn half_a_configuration_is_an_error() {
        let err = Credentials::from_lookup(lookup(&[(USER_ENV, "a")])).unwrap_err();
        assert!(err.contains("set both"), "{err}");
        let err = Credentials::from_lookup(lookup(&[(TOKEN_ENV, "")])).unwrap_err();
        assert!(err.contains("is empty"), "{err}");
        let err = Credentials::from_lookup(lookup(&[
            (TOKEN_ENV, "t"),
            ("BYDELSFAKTA_FLIGHT_SQL_TOKEN_FILE", "f"),
        ]))
        .unwrap_err();
        assert!(err.contains("not both"), "{err}");
    }

    #[test]
    fn basic_credentials_and_tokens_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("password");
        std::fs::write(&file, "s3cret\n").unwrap();
        let credentials = Credentials::from_lookup(lookup(&[
            (USER_ENV, "analyst"),
            (
                "BYDELSFAKTA_FLIGHT_SQL_PASSWORD_FILE",
                file.to_str().unwrap(),
            ),
            (TOKEN_ENV, "tok"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            credentials.accepts(&basic("analyst", "s3cret")).unwrap(),
            Identity::user("analyst")
        );
        assert!(credentials.accepts("Bearer tok").is_ok());
        for wrong in [
            basic("analyst", "s3cre"),
            basic("analyst", "s3cret\n"),
            basic("other", "s3cret"),
            "Bearer to".into(),
            "Basic !!!".into(),
            "tok".into(),
        ] {
            let err = credentials.accepts(&wrong).unwrap_err();
            assert_eq!(err.code(), tonic::Code::Unauthenticated, "{wrong}");
        }
        assert!(!format!("{credentials:?}").contains("s3cret"));
    }
}
