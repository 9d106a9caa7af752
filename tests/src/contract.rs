//! Sisense's published contracts (`shared/sisense-sim/contracts/*.yaml`, Swagger 2.0 of REST v1.0 and v0.9, L8.2.4)
//! as a checker of recorded traffic: every request must be an operation the contract declares, with declared
//! query parameters and body fields, and every response must validate against the contract's schema.
//!
//! Schemas are checked with the `jsonschema` crate (draft 4, which Swagger 2.0 schemas are a dialect of; chosen
//! over schemathesis because it runs inside `cargo test` with no Python and checks the client's requests, not
//! only the server's answers), after
//! "closing" every object schema that lists `properties` (`additionalProperties: false`), so a field the
//! contract does not declare is a failure in either direction. The few fields we knowingly send or accept
//! beyond the contract are [`EXCEPTIONS`] and the SSO fields of user answers ([`SSO_FIELDS`]), each with its
//! reason; nothing else passes.

use std::path::PathBuf;

use saphyr::{LoadableYamlNode, Yaml};
use serde_json::{Map, Value, json};
use sisense_sim::RecordedRequest;

use crate::template::to_json;
use crate::workspace_root;

/// A field allowed beyond the contract, on one operation, in one direction.
#[derive(Debug, Clone, Copy)]
pub struct Exception {
    /// HTTP method.
    pub method: &'static str,
    /// Full path template, e.g. `/api/v1/users/{id}`.
    pub path: &'static str,
    /// `request` (a body field we send) or `response` (a field the server sends).
    pub direction: &'static str,
    /// The field (top level, or of each array item).
    pub field: &'static str,
    /// Why it is allowed.
    pub reason: &'static str,
}

/// Response fields a JWT SSO login writes on a user, beyond the L8.2.4 schemas: Sisense's server code (the 2018
/// build whose users code matches L8.2.4) stores the login's `ssoTokenIat` and `ssoToken` on the user, and user
/// documents are answered as stored. The client keeps only the token's presence (redacted when read).
pub const SSO_FIELDS: [&str; 2] = ["ssoTokenIat", "ssoToken"];

/// The operations whose answers carry users, and so [`SSO_FIELDS`].
pub const USER_ANSWERS: [(&str, &str); 5] = [
    ("GET", "/api/v1/users"),
    ("GET", "/api/v1/users/{id}"),
    ("PATCH", "/api/v1/users/{id}"),
    ("GET", "/api/users"),
    ("GET", "/api/users/{user}"),
];

/// Operations beyond the published contracts that the client calls, each with its reason: (method, path, why).
pub const EXTRA_OPERATIONS: [(&str, &str, &str); 1] = [(
    "GET",
    "/api/v1/tenants",
    "multitenancy (L2022 and later) lists tenants here; L8.2.4 has no such route and answers 404, which the \
     client reads as 'no tenants' (the export asks once to know whether to write a tenant column)",
)];

/// Whether `method path` is one of [`EXTRA_OPERATIONS`].
fn is_extra(method: &str, path: &str) -> bool {
    EXTRA_OPERATIONS
        .iter()
        .any(|(m, p, _)| *m == method && *p == path)
}

/// Every departure from the published contract, with its reason.
pub const EXCEPTIONS: [Exception; 5] = [
    Exception {
        method: "POST",
        path: "/api/v1/users",
        direction: "request",
        field: "password",
        reason: "sent only when the import's CSV has a password cell; later releases accept it (the user is \
                 then active at once instead of invited). L8.2.4's schema omits it",
    },
    Exception {
        method: "POST",
        path: "/api/v1/users/bulk",
        direction: "request",
        field: "password",
        reason: "as for POST /api/v1/users",
    },
    Exception {
        method: "PATCH",
        path: "/api/v1/users/{id}",
        direction: "request",
        field: "active",
        reason: "sent only by the deactivate action, which probes: its first write is read back and the run \
                 stops (DeactivationUnsupported) when the release ignores it",
    },
    Exception {
        method: "PUT",
        path: "/api/users/{user}",
        direction: "request",
        field: "active",
        reason: "the legacy deactivate action, probed the same way",
    },
    Exception {
        method: "GET",
        path: "/api/roles",
        direction: "response",
        field: "_id",
        reason: "every role has the id users' roleId refers to; the v0.9 schema lists the other fields only",
    },
];

/// Where the contracts are: vendored beside the simulator that follows them (`shared/sisense-sim/contracts`).
pub fn contracts_dir() -> PathBuf {
    workspace_root().join("shared/sisense-sim/contracts")
}

/// One loaded Swagger document.
struct Spec {
    base: String,
    doc: Value,
}

/// Both published contracts.
pub struct Contracts {
    specs: Vec<Spec>,
}

/// An operation found for a recorded request.
pub struct Operation<'a> {
    spec: &'a Spec,
    method: String,
    /// The full path template (`/api/v1/users/{id}`).
    pub path: String,
    op: &'a Value,
    params: Vec<&'a Value>,
}

impl Contracts {
    /// Loads both YAML contracts (tolerantly: they are reference data, see the contracts' README).
    pub fn load() -> Contracts {
        let dir = contracts_dir();
        let mut specs = Vec::new();
        for file in [
            "sisense-linux-rest-v1.0.yaml",
            "sisense-linux-rest-v0.9.yaml",
        ] {
            let path = dir.join(file);
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
                panic!(
                    "{} is needed (vendored in the repository): {e}",
                    path.display()
                )
            });
            let docs = Yaml::load_from_str(&text).expect("the contract is valid YAML");
            let doc = to_json(docs.first().expect("one document"));
            let base = doc["basePath"].as_str().expect("basePath").to_string();
            specs.push(Spec { base, doc });
        }
        // The longer base first, so `/api/v1/...` is looked up in v1.0 before v0.9's `/api`.
        specs.sort_by_key(|s| std::cmp::Reverse(s.base.len()));
        Contracts { specs }
    }

    /// The operation `method path` is, preferring literal segments over `{params}` (`/users/count` over
    /// `/users/{user}`).
    pub fn operation(&self, method: &str, path: &str) -> Option<Operation<'_>> {
        let method = method.to_lowercase();
        for spec in &self.specs {
            let Some(rest) = path.strip_prefix(&spec.base) else {
                continue;
            };
            if !rest.starts_with('/') {
                continue;
            }
            let wanted: Vec<&str> = rest.split('/').collect();
            let mut best: Option<(usize, &String, &Value)> = None;
            for (template, item) in spec.doc["paths"].as_object()? {
                let parts: Vec<&str> = template.split('/').collect();
                if parts.len() != wanted.len() {
                    continue;
                }
                let matches = parts
                    .iter()
                    .zip(&wanted)
                    .all(|(t, w)| t.starts_with('{') || t == w);
                let literal = parts.iter().filter(|t| !t.starts_with('{')).count();
                if matches && item.get(&method).is_some() && best.is_none_or(|b| literal > b.0) {
                    best = Some((literal, template, item));
                }
            }
            if let Some((_, template, item)) = best {
                let op = &item[&method];
                let params = item["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .chain(op["parameters"].as_array().into_iter().flatten())
                    .collect();
                return Some(Operation {
                    spec,
                    method: method.clone(),
                    path: format!("{}{template}", spec.base),
                    op,
                    params,
                });
            }
        }
        None
    }

    /// What is wrong with a recorded request, per the contract (empty when it conforms).
    pub fn check_request(&self, r: &RecordedRequest) -> Vec<String> {
        let what = format!("{} {}", r.method, r.path);
        let Some(op) = self.operation(&r.method, &r.path) else {
            if is_extra(&r.method, &r.path) {
                return Vec::new();
            }
            return vec![format!(
                "{what}: no such operation in the published contracts"
            )];
        };
        let mut problems = Vec::new();
        for pair in r.query.as_deref().unwrap_or_default().split('&') {
            let name = pair.split('=').next().unwrap_or_default();
            if !name.is_empty() && op.param("query", name).is_none() {
                problems.push(format!(
                    "{what}: query parameter {name:?} is not declared by {}",
                    op.path
                ));
            }
        }
        let Some(body) = &r.body else {
            return problems;
        };
        let form: Vec<&str> = op
            .params
            .iter()
            .filter(|p| p["in"] == "formData")
            .filter_map(|p| p["name"].as_str())
            .collect();
        if !form.is_empty() {
            for field in body.as_object().into_iter().flat_map(Map::keys) {
                if !form.contains(&field.as_str()) {
                    problems.push(format!("{what}: form field {field:?} is not declared"));
                }
            }
            return problems;
        }
        let Some(schema) = op.params.iter().find(|p| p["in"] == "body") else {
            problems.push(format!("{what}: sends a body, but {} takes none", op.path));
            return problems;
        };
        let body = op.without_exceptions("request", body.clone());
        problems.extend(
            op.validate(&schema["schema"], &body)
                .into_iter()
                .map(|e| format!("{what} body: {e}")),
        );
        problems
    }

    /// What is wrong with a recorded response, per the contract (empty when it conforms or was not
    /// recorded). A success status the operation does not declare is a problem; a declared status without a
    /// schema has nothing to check.
    pub fn check_response(&self, r: &RecordedRequest) -> Vec<String> {
        let what = format!("{} {} -> {}", r.method, r.path, r.status);
        let Some(op) = self.operation(&r.method, &r.path) else {
            if is_extra(&r.method, &r.path) {
                return Vec::new();
            }
            return vec![format!(
                "{what}: no such operation in the published contracts"
            )];
        };
        if r.fault.is_some() || r.status == 0 {
            return Vec::new();
        }
        let responses = &op.op["responses"];
        let declared = &responses[r.status.to_string()];
        if declared.is_null() {
            return if (200..300).contains(&r.status) {
                vec![format!("{what}: status not declared by {}", op.path)]
            } else {
                Vec::new()
            };
        }
        let (Some(body), Some(_)) = (&r.response, declared.get("schema")) else {
            return Vec::new();
        };
        let body = op.without_exceptions("response", body.clone());
        op.validate(&declared["schema"], &body)
            .into_iter()
            .map(|e| format!("{what}: {e}"))
            .collect()
    }
}

impl Operation<'_> {
    fn param(&self, location: &str, name: &str) -> Option<&Value> {
        self.params
            .iter()
            .copied()
            .find(|p| p["in"] == location && p["name"] == name)
    }

    /// `body` without the exception fields of this operation (top level, or of each array item).
    fn without_exceptions(&self, direction: &str, mut body: Value) -> Value {
        let answers_users = direction == "response"
            && USER_ANSWERS
                .iter()
                .any(|(m, p)| *p == self.path && m.eq_ignore_ascii_case(&self.method));
        let fields: Vec<&str> = EXCEPTIONS
            .iter()
            .filter(|e| {
                e.direction == direction
                    && e.path == self.path
                    && e.method.eq_ignore_ascii_case(&self.method)
            })
            .map(|e| e.field)
            .chain(SSO_FIELDS.into_iter().filter(|_| answers_users))
            .collect();
        let strip = |v: &mut Value| {
            if let Some(obj) = v.as_object_mut() {
                for f in &fields {
                    obj.remove(*f);
                }
            }
        };
        match &mut body {
            Value::Array(items) => items.iter_mut().for_each(strip),
            other => strip(other),
        }
        body
    }

    /// Validation errors of `value` against `schema` (closed; `$ref`s into this contract's definitions).
    fn validate(&self, schema: &Value, value: &Value) -> Vec<String> {
        let mut root = close(schema.clone());
        if let Some(obj) = root.as_object_mut() {
            obj.insert(
                "definitions".into(),
                close(self.spec.doc["definitions"].clone()),
            );
        }
        let validator = match jsonschema::options()
            .with_draft(jsonschema::Draft::Draft4)
            // Off: with formats on, the meta-schema's `format: regex` refuses the contracts' email pattern (an
            // unescaped `]` ECMA 262 forbids, which the regex engine itself reads fine).
            .should_validate_formats(false)
            .with_pattern_options(jsonschema::PatternOptions::regex())
            .build(&root)
        {
            Ok(v) => v,
            Err(e) => return vec![format!("the contract's schema does not compile: {e}")],
        };
        validator
            .iter_errors(value)
            .map(|e| format!("{e} (at {})", e.instance_path()))
            .collect()
    }
}

/// Swagger 2.0 schema to a closed JSON Schema: every object schema that lists `properties` refuses others
/// (except inside `allOf`, whose parts would refuse each other's), and the Swagger-only `x-*` keys go.
pub fn close(schema: Value) -> Value {
    fn walk(v: Value, in_all_of: bool) -> Value {
        match v {
            Value::Object(map) => {
                let has_properties = map.get("properties").is_some_and(Value::is_object);
                let mut out = Map::new();
                for (k, v) in map {
                    if k.starts_with("x-") {
                        continue;
                    }
                    let child = match k.as_str() {
                        "pattern" => v
                            .as_str()
                            .map_or(v.clone(), |p| Value::String(ecma_safe(p))),
                        "allOf" => walk(v, true),
                        // Keys under `properties`/`definitions` are names, not schemas: walk their values.
                        "properties" | "definitions" => Value::Object(
                            v.as_object()
                                .cloned()
                                .unwrap_or_default()
                                .into_iter()
                                .map(|(name, s)| (name, walk(s, false)))
                                .collect(),
                        ),
                        _ => walk(v, false),
                    };
                    out.insert(k, child);
                }
                if has_properties && !in_all_of && !out.contains_key("additionalProperties") {
                    out.insert("additionalProperties".into(), json!(false));
                }
                Value::Object(out)
            }
            Value::Array(items) => {
                Value::Array(items.into_iter().map(|i| walk(i, in_all_of)).collect())
            }
            other => other,
        }
    }
    walk(schema, false)
}

/// `pattern` with every unescaped `]` outside a character class escaped: the contracts' email pattern has one,
/// which ECMA 262 (and so the meta-schema's `format: regex`) refuses; it means a literal `]` either way.
fn ecma_safe(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 4);
    let (mut escaped, mut in_class) = (false, false);
    for c in pattern.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '[' if !in_class => in_class = true,
            ']' if in_class => in_class = false,
            ']' => out.push('\\'),
            _ => {}
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_stray_closing_bracket_is_escaped_and_classes_are_kept() {
        assert_eq!(
            super::ecma_safe(r"\[[0-9]{1,3}]|[a\]b]"),
            r"\[[0-9]{1,3}\]|[a\]b]"
        );
    }
}
