//! The `PORTCULLIS_*` environment variables: each setting's name, its value read as the
//! setting's type, and the variables that name no setting.

use std::collections::BTreeMap;

use super::{Config, ConfigError};

/// Overlays `PORTCULLIS_*` variables on the file's table. The variable for `[oauth2]`
/// key `k` is `PORTCULLIS_K`; for key `k` of another section `s`, `PORTCULLIS_S_K`. The
/// value's type is the default's: strings are taken as they are, numbers and booleans
/// parsed, lists given as TOML arrays or as comma- or space-separated words, tables as
/// TOML inline tables.
pub(super) fn apply_env<I>(table: &mut toml::Table, env: I) -> Result<(), ConfigError>
where
    I: IntoIterator<Item = (String, String)>,
{
    let known = env_settings();
    for (var, raw) in env {
        let Some((section, key, default)) = known.get(&var) else {
            continue;
        };
        let value = env_value(default, &raw).map_err(|message| ConfigError::Env { var: var.clone(), message })?;
        let entry = table.entry(section.clone()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        match entry.as_table_mut() {
            Some(section_table) => {
                section_table.insert(key.clone(), value);
            }
            None => {
                return Err(ConfigError::Invalid { key: section.clone(), message: "must be a table".into() });
            }
        }
    }
    Ok(())
}

/// Every setting's variable, with its section, key and default: made from the
/// settings themselves, so a new setting has its variable at once.
fn env_settings() -> BTreeMap<String, (String, String, toml::Value)> {
    let defaults = toml::Table::try_from(Config::default()).unwrap_or_default();
    let mut known = BTreeMap::new();
    for (section, keys) in &defaults {
        let Some(keys) = keys.as_table() else {
            continue;
        };
        for (key, default) in keys {
            let var = if section == "oauth2" {
                format!("{ENV_PREFIX}{}", key.to_uppercase())
            } else {
                format!("{ENV_PREFIX}{}_{}", section.to_uppercase(), key.to_uppercase())
            };
            known.insert(var, (section.clone(), key.clone(), default.clone()));
        }
    }
    known
}

/// What every variable the settings read starts with.
const ENV_PREFIX: &str = "PORTCULLIS_";

/// A `PORTCULLIS_*` variable that nothing reads, and the known one it is closest to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UnknownVar {
    /// The variable's name.
    pub name: String,
    /// A known variable a typo or two away, if there is one.
    pub suggestion: Option<String>,
}

/// The `PORTCULLIS_*` variables among `names` that are neither a setting nor one of
/// `also_known` (the command line's own, such as `PORTCULLIS_CONFIG`), sorted: a
/// misspelt variable would otherwise be ignored without a word, where the same typo in
/// `portcullis.toml` is an error.
pub(crate) fn unknown_env_vars<'a>(names: impl IntoIterator<Item = &'a str>, also_known: &[&str]) -> Vec<UnknownVar> {
    let settings = env_settings();
    let known: Vec<&str> = settings.keys().map(String::as_str).chain(also_known.iter().copied()).collect();
    let mut unknown: Vec<UnknownVar> = names
        .into_iter()
        .filter(|name| name.starts_with(ENV_PREFIX) && !known.contains(name))
        .map(|name| UnknownVar { name: name.to_owned(), suggestion: closest(name, &known).map(str::to_owned) })
        .collect();
    unknown.sort_by(|a, b| a.name.cmp(&b.name));
    unknown.dedup();
    unknown
}

/// The known name `name` most likely meant: one a few edits away (a letter dropped,
/// doubled or swapped), or the `[oauth2]` variable when `name` spells out the section
/// that those variables leave out (`PORTCULLIS_OAUTH2_PKCE_REQUIRED`).
fn closest<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    if let Some(key) = name.strip_prefix("PORTCULLIS_OAUTH2_") {
        let meant = format!("{ENV_PREFIX}{key}");
        if let Some(found) = known.iter().find(|k| **k == meant) {
            return Some(found);
        }
    }
    // Up to one edit per eight characters of the part after the prefix: close enough to
    // be a typo, far enough from the next name that the guess is not random.
    let limit = (name.len().saturating_sub(ENV_PREFIX.len()) / 8).clamp(1, 3);
    known
        .iter()
        .map(|k| (edit_distance(name, k), *k))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, k)| k)
}

/// The Levenshtein distance between two strings, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

fn env_value(default: &toml::Value, raw: &str) -> Result<toml::Value, String> {
    let parse_toml = |raw: &str| -> Result<toml::Value, String> {
        format!("v = {raw}")
            .parse::<toml::Table>()
            .ok()
            .and_then(|mut t| t.remove("v"))
            .ok_or_else(|| format!("{raw:?} is not a valid TOML value"))
    };
    match default {
        toml::Value::String(_) => Ok(toml::Value::String(raw.to_owned())),
        toml::Value::Integer(_) => {
            raw.trim().parse::<i64>().map(toml::Value::Integer).map_err(|_| format!("{raw:?} is not a whole number"))
        }
        toml::Value::Boolean(_) => match raw.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(toml::Value::Boolean(true)),
            "false" | "0" | "no" | "off" => Ok(toml::Value::Boolean(false)),
            _ => Err(format!("{raw:?} is not true or false")),
        },
        toml::Value::Array(_) if raw.trim_start().starts_with('[') => parse_toml(raw),
        toml::Value::Array(_) => Ok(toml::Value::Array(
            raw.split(|c: char| c == ',' || c.is_whitespace())
                .filter(|s| !s.is_empty())
                .map(|s| toml::Value::String(s.to_owned()))
                .collect(),
        )),
        _ => parse_toml(raw),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_variables_are_named_with_a_guess() {
        let own = ["PORTCULLIS_CONFIG", "PORTCULLIS_BIND"];
        let names = [
            "PORTCULLIS_ACCES_TOKEN_EXPIRE_SECONDS",
            "PORTCULLIS_ACCESS_TOKEN_EXPIRE_SECONDS",
            "PORTCULLIS_OAUTH2_PKCE_REQUIRED",
            "PORTCULLIS_OIDC_ISUER",
            "PORTCULLIS_STORAGE_POOL_SIZE",
            "PORTCULLIS_CONFIG",
            "PORTCULLIS_BIND",
            "PORTCULLIS_SOMETHING_ELSE_ENTIRELY",
            "PORTCULLIS_ACCES_TOKEN_EXPIRE_SECONDS",
            "DATABASE_URL",
            "HOME",
            "portcullis_pkce_required",
        ];
        let unknown = unknown_env_vars(names, &own);
        let shown: Vec<(&str, Option<&str>)> =
            unknown.iter().map(|u| (u.name.as_str(), u.suggestion.as_deref())).collect();
        assert_eq!(
            shown,
            [
                ("PORTCULLIS_ACCES_TOKEN_EXPIRE_SECONDS", Some("PORTCULLIS_ACCESS_TOKEN_EXPIRE_SECONDS")),
                ("PORTCULLIS_OAUTH2_PKCE_REQUIRED", Some("PORTCULLIS_PKCE_REQUIRED")),
                ("PORTCULLIS_OIDC_ISUER", Some("PORTCULLIS_OIDC_ISSUER")),
                ("PORTCULLIS_SOMETHING_ELSE_ENTIRELY", None),
            ]
        );
        // The command line's own names are passed in; without them they are unknown.
        let bare = unknown_env_vars(["PORTCULLIS_BIND"], &[]);
        assert_eq!(bare.iter().map(|u| u.name.as_str()).collect::<Vec<_>>(), ["PORTCULLIS_BIND"]);
    }

    #[test]
    fn every_section_has_known_variables() {
        let known = [
            "PORTCULLIS_SCOPES",
            "PORTCULLIS_JWT_ACCESS_TOKEN_AUDIENCE",
            "PORTCULLIS_PAGES_TEMPLATES_DIR",
            "PORTCULLIS_OIDC_KEY_ENCRYPTION_KEY",
            "PORTCULLIS_STORAGE_SQLITE_DURABILITY",
            "PORTCULLIS_LIMITS_REQUEST_TIMEOUT_SECONDS",
            "PORTCULLIS_SERVER_TRUSTED_PROXIES",
        ];
        assert_eq!(unknown_env_vars(known, &[]), []);
        // What is unknown is what the settings ignore.
        let typo = [("PORTCULLIS_ACCES_TOKEN_EXPIRE_SECONDS".to_owned(), "5".to_owned())];
        assert_eq!(Config::load(None, typo).unwrap(), Config::defaults());
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
