//! Page templates: built into the binary, each replaceable by a file of the same name
//! in the folder the `pages.templates_dir` setting names, as Django projects override
//! django-oauth-toolkit's templates. Rendering escapes HTML in every value.

use std::path::PathBuf;

use minijinja::Environment;
use serde::Serialize;

/// Every built-in template, by name.
const BUILTIN: &[(&str, &str)] = &[
    ("base.html", include_str!("../../templates/base.html")),
    ("login.html", include_str!("../../templates/login.html")),
    ("logout.html", include_str!("../../templates/logout.html")),
    ("device.html", include_str!("../../templates/device.html")),
    ("authorize.html", include_str!("../../templates/authorize.html")),
    ("error.html", include_str!("../../templates/error.html")),
    ("home.html", include_str!("../../templates/home.html")),
    ("macros.html", include_str!("../../templates/macros.html")),
    ("grant_macros.html", include_str!("../../templates/grant_macros.html")),
    // --- Application management and authorized-token pages ---
    ("application_list.html", include_str!("../../templates/application_list.html")),
    ("application_fields.html", include_str!("../../templates/application_fields.html")),
    ("application_form.html", include_str!("../../templates/application_form.html")),
    ("application_detail.html", include_str!("../../templates/application_detail.html")),
    ("application_confirm_delete.html", include_str!("../../templates/application_confirm_delete.html")),
    ("authorized-tokens.html", include_str!("../../templates/authorized-tokens.html")),
    // --- Admin pages ---
    ("admin/layout.html", include_str!("../../templates/admin/layout.html")),
    ("admin/index.html", include_str!("../../templates/admin/index.html")),
    ("admin/users.html", include_str!("../../templates/admin/users.html")),
    ("admin/user_new.html", include_str!("../../templates/admin/user_new.html")),
    ("admin/user.html", include_str!("../../templates/admin/user.html")),
    ("admin/applications.html", include_str!("../../templates/admin/applications.html")),
    ("admin/application.html", include_str!("../../templates/admin/application.html")),
    ("admin/tokens.html", include_str!("../../templates/admin/tokens.html")),
    ("admin/audit.html", include_str!("../../templates/admin/audit.html")),
    // --- Playground ---
    ("playground.html", include_str!("../../templates/playground.html")),
];

/// The one stylesheet, served at `/static/portcullis.css`.
pub(crate) const STYLESHEET: &str = include_str!("../../static/portcullis.css");

/// The page templates: built in, with overrides from a folder. See the module
/// documentation.
pub struct Templates {
    env: Environment<'static>,
}

/// Why the templates could not be loaded, or a page rendered.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// The override folder is not a readable folder.
    #[error("setting `pages.templates_dir`: {0} is not a readable folder")]
    BadDir(String),
    /// A template failed: it does not parse, uses something undefined, or cannot be
    /// read.
    #[error("template {name}: {source}")]
    Render {
        /// The template.
        name: String,
        /// What minijinja said.
        source: minijinja::Error,
    },
}

impl Templates {
    /// The built-in templates, overridden by files in `override_dir` when one is given.
    /// Templates put `base` (the path the provider is mounted at, or empty) in front of
    /// every link to the provider's own pages, as `{{ base }}/o/applications/`.
    pub(crate) fn new(override_dir: Option<PathBuf>, base: &str) -> Result<Self, TemplateError> {
        if let Some(dir) = &override_dir {
            if !dir.is_dir() {
                return Err(TemplateError::BadDir(dir.display().to_string()));
            }
        }
        let mut env = Environment::new();
        // Safe as it is: a mount path holds only letters, digits and `-_./~` (checked by
        // `provider::ProviderBuilder::build`), and escaping would turn `/` into `&#x2f;`.
        env.add_global("base", minijinja::Value::from_safe_string(base.to_owned()));
        env.set_loader(move |name| {
            // Only names from our own list are ever loaded, so no path from a request
            // reaches the file system.
            let Some((_, builtin)) = BUILTIN.iter().find(|(n, _)| *n == name) else { return Ok(None) };
            if let Some(dir) = &override_dir {
                match std::fs::read_to_string(dir.join(name)) {
                    Ok(text) => return Ok(Some(text)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(minijinja::Error::new(minijinja::ErrorKind::TemplateNotFound, e.to_string()));
                    }
                }
            }
            Ok(Some((*builtin).to_owned()))
        });
        Ok(Self { env })
    }

    /// Renders the template called `name` with `context`.
    pub(crate) fn render<S: Serialize>(&self, name: &str, context: S) -> Result<String, TemplateError> {
        let render = || self.env.get_template(name)?.render(context);
        render().map_err(|source| TemplateError::Render { name: name.to_owned(), source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::context;

    #[test]
    fn escapes_and_overrides() {
        let builtin = Templates::new(None, "").unwrap();
        let html = builtin
            .render("error.html", context! { title => "T", message => "<script>alert(1)</script>", user => () })
            .unwrap();
        assert!(html.contains("&lt;script&gt;") && !html.contains("<script>alert"));

        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("error.html"), "custom: {{ message }}").unwrap();
        let custom = Templates::new(Some(dir.path().to_owned()), "").unwrap();
        assert_eq!(custom.render("error.html", context! { message => "<b>" }).unwrap(), "custom: &lt;b&gt;");
        assert!(custom.render("login.html", context! {}).unwrap().contains("Log in"), "others stay built in");
        assert!(Templates::new(Some("/nonexistent/dir".into()), "").is_err());
        let mounted = Templates::new(None, "/auth").unwrap();
        let login = mounted.render("login.html", context! {}).unwrap();
        assert!(login.contains(r#"action="/auth/accounts/login/""#), "{login}");
    }
}
