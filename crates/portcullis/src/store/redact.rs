//! Database URLs carry passwords (`postgres://app:PASSWORD@db/auth`), and a URL is what
//! a failed connection most wants to name. Every message that names a database URL
//! passes it through [`redact_url`] first, and the command line passes its whole error
//! line through [`redact_urls_in`] as well, in case a driver's text quotes one.

/// What a password is shown as.
const MASK: &str = "***";

/// `url` with its passwords shown as `***`: the userinfo's
/// (`scheme://user:PASSWORD@host`) and the value of every query parameter whose name
/// ends in `password` (`?password=…`, `?sslpassword=…`).
///
/// The text need not be a valid URL (a mistyped scheme, no `//`, a password with an
/// `@`, `/`, `?` or space that was not percent-encoded): the userinfo is taken to run
/// to the *last* `@`, so a password is never shown, at the cost of hiding more than it
/// (a host, a path) in the rare URL with an `@` after its host.
pub(crate) fn redact_url(url: &str) -> String {
    let start = url.find("://").map_or(0, |at| at + "://".len());
    let (scheme, rest) = url.split_at(start);
    let (userinfo, tail) = match rest.rfind('@') {
        Some(at) => rest.split_at(at),
        None => ("", rest),
    };
    let mut out = String::with_capacity(url.len());
    out.push_str(scheme);
    match userinfo.find(':') {
        // A user name cannot hold a `:` (RFC 3986 §3.2.1), so the first one starts
        // the password.
        Some(colon) => {
            out.push_str(&userinfo[..=colon]);
            out.push_str(MASK);
        }
        None => out.push_str(userinfo),
    }
    out.push_str(&redact_query(tail));
    out
}

/// `text` (an error message, a log line) with the password of every URL in it shown as
/// `***`, as [`redact_url`] shows them. A URL is a run of characters between white
/// space or quotes that holds `://`, or a `:` before an `@` (`user:password@host`).
pub(crate) fn redact_urls_in(text: &str) -> String {
    let is_boundary = |c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '`' | '<' | '>');
    let mut out = String::with_capacity(text.len());
    let mut word_start = None;
    for (at, c) in text.char_indices().chain(std::iter::once((text.len(), ' '))) {
        match (word_start, is_boundary(c)) {
            (None, false) => word_start = Some(at),
            (Some(start), true) => {
                out.push_str(&redact_word(&text[start..at]));
                word_start = None;
            }
            _ => {}
        }
        if is_boundary(c) && at < text.len() {
            out.push(c);
        }
    }
    out
}

fn redact_word(word: &str) -> String {
    let userinfo = word.rfind('@').is_some_and(|at| word[..at].contains(':'));
    if word.contains("://") || userinfo {
        redact_url(word)
    } else {
        word.to_owned()
    }
}

/// The query of `tail` (the URL after its userinfo) with password parameters masked.
fn redact_query(tail: &str) -> String {
    let Some(question) = tail.find('?') else { return tail.to_owned() };
    let (before, query) = tail.split_at(question + 1);
    let (query, fragment) = match query.find('#') {
        Some(hash) => query.split_at(hash),
        None => (query, ""),
    };
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if name.to_ascii_lowercase().ends_with("password") => format!("{name}={MASK}"),
            _ => pair.to_owned(),
        })
        .collect();
    format!("{before}{}{fragment}", pairs.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_userinfo_password_is_masked() {
        for (url, shown) in [
            ("postgres://app:S3cret@db/auth", "postgres://app:***@db/auth"),
            (
                "postgresql://app:S3cret@db:5432/auth?sslmode=require",
                "postgresql://app:***@db:5432/auth?sslmode=require",
            ),
            // A mistyped or unknown scheme: not a URL the store takes, masked all the same.
            ("postgress://app:S3cret@db/auth", "postgress://app:***@db/auth"),
            ("mysql://root:S3cret@localhost/x", "mysql://root:***@localhost/x"),
            // An `@` in the password, percent-encoded or not.
            ("postgres://app:p%40ss%3Aw0rd@db/auth", "postgres://app:***@db/auth"),
            ("postgres://app:p@ss@db/auth", "postgres://app:***@db/auth"),
            // Characters that end the authority of a real URL, typed as they are.
            ("postgres://app:pa/ss?#w@db/auth", "postgres://app:***@db/auth"),
            ("postgres://app:my pass@db/auth", "postgres://app:***@db/auth"),
            // No `//`, or no scheme at all.
            ("postgres:app:S3cret@db/auth", "postgres:***@db/auth"),
            ("app:S3cret@db/auth", "app:***@db/auth"),
            // An empty password is still the password's place.
            ("postgres://app:@db/auth", "postgres://app:***@db/auth"),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
            assert!(!redact_url(url).contains("S3cret"));
        }
    }

    #[test]
    fn urls_without_a_password_are_unchanged() {
        for url in [
            "sqlite://portcullis.db",
            "sqlite:///var/lib/portcullis/auth.db?mode=rwc",
            "postgres://app@db/auth",
            "postgres://db/auth",
            "postgres://postgres@127.0.0.1:5432/postgres",
            "",
            "not a url at all",
        ] {
            assert_eq!(redact_url(url), url);
        }
    }

    #[test]
    fn password_parameters_are_masked() {
        assert_eq!(
            redact_url("postgres://db/auth?user=app&password=S3cret&sslmode=require"),
            "postgres://db/auth?user=app&password=***&sslmode=require"
        );
        assert_eq!(redact_url("postgres://db/auth?sslPassword=S3cret#x"), "postgres://db/auth?sslPassword=***#x");
        assert_eq!(
            redact_url("postgres://app:S3cret@db/auth?password=Other"),
            "postgres://app:***@db/auth?password=***"
        );
    }

    #[test]
    fn an_at_after_the_host_hides_more_never_less() {
        // The userinfo runs to the last `@`: the host is hidden too, the password never shown.
        let shown = redact_url("postgres://app:S3cret@db/auth?application_name=me@host");
        assert_eq!(shown, "postgres://app:***@host");
        assert_eq!(redact_url("sqlite:///srv/data@2024/auth.db"), "sqlite:///srv/data@2024/auth.db");
    }

    #[test]
    fn urls_inside_text_are_masked() {
        assert_eq!(
            redact_urls_in(r#"unsupported database URL "postgress://app:S3cret@db/auth": expected sqlite://"#),
            r#"unsupported database URL "postgress://app:***@db/auth": expected sqlite://"#
        );
        assert_eq!(
            redact_urls_in("cannot open sqlite://u:S3cret@/tmp/x.db: unable to open\nsecond line"),
            "cannot open sqlite://u:***@/tmp/x.db: unable to open\nsecond line"
        );
        assert_eq!(redact_urls_in("login app:S3cret@db failed"), "login app:***@db failed");
        let plain = "error: --redirect-uri: \"ftp://a.example/\" has a scheme that is not allowed; alice@example.com";
        assert_eq!(redact_urls_in(plain), plain);
        assert_eq!(redact_urls_in("  spaced  out  "), "  spaced  out  ");
        assert_eq!(redact_urls_in("é://ü:pässword@höst"), "é://ü:***@höst");
    }
}
