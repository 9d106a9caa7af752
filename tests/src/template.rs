//! The SAM template (`infra/template.yaml`) as JSON, with just enough of CloudFormation's evaluation
//! (`Ref`, `Fn::Sub`, `Fn::If`, `Fn::Equals`, `Fn::Not`) to read what a deployment with given parameters sets.
//! Short-form tags (`!Ref X`) become their long form (`{"Ref": "X"}`), as CloudFormation reads them.

use std::collections::BTreeMap;

use saphyr::{LoadableYamlNode, Scalar, Yaml};
use serde_json::{Map, Value, json};

use crate::workspace_root;

/// The template's path under the workspace root.
pub const TEMPLATE: &str = "infra/template.yaml";

/// A parsed template and the parameter values of one deployment.
pub struct Template {
    /// The whole template as JSON (long-form intrinsics).
    pub doc: Value,
    params: BTreeMap<String, String>,
}

impl Template {
    /// Loads [`TEMPLATE`] with every parameter at its default, overridden by `params`.
    pub fn load(params: &[(&str, &str)]) -> Template {
        let path = workspace_root().join(TEMPLATE);
        let text = std::fs::read_to_string(&path).expect("infra/template.yaml");
        let docs = Yaml::load_from_str(&text).expect("the template is valid YAML");
        let doc = to_json(docs.first().expect("one document"));
        let mut values = BTreeMap::new();
        for (name, spec) in doc["Parameters"].as_object().expect("Parameters") {
            if let Some(default) = spec.get("Default") {
                values.insert(name.clone(), scalar_text(default));
            }
        }
        for (name, value) in params {
            assert!(
                doc["Parameters"].get(*name).is_some(),
                "no parameter {name}"
            );
            values.insert(name.to_string(), value.to_string());
        }
        for (name, value) in [
            ("AWS::Partition", "aws"),
            ("AWS::Region", "us-east-1"),
            ("AWS::AccountId", "123456789012"),
            ("AWS::StackName", "sisense-lifecycle"),
        ] {
            values.insert(name.into(), value.into());
        }
        Template {
            doc,
            params: values,
        }
    }

    /// The resource `logical_id` (panics when missing).
    pub fn resource(&self, logical_id: &str) -> &Value {
        let r = &self.doc["Resources"][logical_id];
        assert!(r.is_object(), "no resource {logical_id}");
        r
    }

    /// Logical ids and bodies of the resources of `kind` (e.g. `AWS::Serverless::Function`).
    pub fn resources_of(&self, kind: &str) -> Vec<(&str, &Value)> {
        self.doc["Resources"]
            .as_object()
            .expect("Resources")
            .iter()
            .filter(|(_, r)| r["Type"] == kind)
            .map(|(id, r)| (id.as_str(), r))
            .collect()
    }

    /// Whether a condition holds for these parameters.
    pub fn condition(&self, name: &str) -> bool {
        let body = &self.doc["Conditions"][name];
        assert!(!body.is_null(), "no condition {name}");
        self.truth(body)
    }

    fn truth(&self, value: &Value) -> bool {
        if let Some([a, b]) = value
            .get("Fn::Equals")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
        {
            return self.eval(a) == self.eval(b);
        }
        if let Some([inner]) = value
            .get("Fn::Not")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
        {
            return !self.truth(inner);
        }
        if let Some(name) = value.get("Condition").and_then(Value::as_str) {
            return self.condition(name);
        }
        panic!("unsupported condition {value}")
    }

    /// Evaluates a value: `Some(text)` for strings, numbers and booleans (intrinsics resolved), `None` for
    /// `AWS::NoValue`. A reference to a resource evaluates to `<LogicalId>` (`<LogicalId.Attr>` for GetAtt).
    pub fn eval(&self, value: &Value) -> Option<String> {
        match value {
            Value::String(_) | Value::Number(_) | Value::Bool(_) => Some(scalar_text(value)),
            Value::Object(map) if map.len() == 1 => {
                let (function, arg) = map.iter().next().expect("one entry");
                match function.as_str() {
                    "Ref" => {
                        let name = arg.as_str().expect("Ref takes a name");
                        if name == "AWS::NoValue" {
                            None
                        } else {
                            Some(self.name(name))
                        }
                    }
                    "Fn::GetAtt" => Some(format!("<{}>", scalar_text(arg))),
                    "Fn::Sub" => Some(self.substitute(arg.as_str().expect("Fn::Sub of a string"))),
                    "Fn::If" => {
                        let [condition, then, otherwise] =
                            arg.as_array().map(Vec::as_slice).unwrap_or_default()
                        else {
                            panic!("Fn::If takes three arguments: {arg}")
                        };
                        let condition = condition.as_str().expect("condition name");
                        self.eval(if self.condition(condition) {
                            then
                        } else {
                            otherwise
                        })
                    }
                    other => panic!("unsupported intrinsic {other}"),
                }
            }
            other => panic!("not a scalar: {other}"),
        }
    }

    /// A parameter's value, a pseudo parameter, or `<LogicalId>` for a resource.
    fn name(&self, name: &str) -> String {
        match self.params.get(name) {
            Some(value) => value.clone(),
            None => {
                assert!(
                    self.doc["Resources"]
                        .get(name.split('.').next().unwrap_or(name))
                        .is_some(),
                    "{name} is neither a parameter nor a resource"
                );
                format!("<{name}>")
            }
        }
    }

    fn substitute(&self, text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}').expect("closing brace") + start;
            out.push_str(&self.name(&rest[start + 2..end]));
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        out
    }

    /// The environment a function gets: the Globals' variables, then its own, evaluated; `AWS::NoValue`
    /// entries are left out.
    pub fn env(&self, function: &str) -> BTreeMap<String, String> {
        let global = &self.doc["Globals"]["Function"]["Environment"]["Variables"];
        let own = &self.resource(function)["Properties"]["Environment"]["Variables"];
        [global, own]
            .into_iter()
            .filter_map(Value::as_object)
            .flatten()
            .filter_map(|(k, v)| self.eval(v).map(|v| (k.clone(), v)))
            .collect()
    }

    /// A function's IAM statements (the inline `Statement` lists of its `Policies`, and those of the
    /// template's managed policies it references), with `Fn::If` entries evaluated and `AWS::NoValue` ones
    /// dropped.
    pub fn statements(&self, function: &str) -> Vec<Value> {
        let policies = self.resource(function)["Properties"]["Policies"]
            .as_array()
            .expect("Policies");
        policies
            .iter()
            .filter_map(|p| match p.get("Ref").and_then(Value::as_str) {
                Some(managed) => {
                    self.resource(managed)["Properties"]["PolicyDocument"]["Statement"].as_array()
                }
                None => p["Statement"].as_array(),
            })
            .flatten()
            .filter_map(|s| self.select(s))
            .collect()
    }

    /// `value` with a top-level `Fn::If` resolved (`None` for `AWS::NoValue`).
    pub fn select(&self, value: &Value) -> Option<Value> {
        match value
            .get("Fn::If")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
        {
            Some([condition, then, otherwise]) => {
                let chosen = if self.condition(condition.as_str().expect("condition")) {
                    then
                } else {
                    otherwise
                };
                if chosen.get("Ref").and_then(Value::as_str) == Some("AWS::NoValue") {
                    None
                } else {
                    self.select(chosen)
                }
            }
            _ => Some(value.clone()),
        }
    }

    /// The resources (evaluated) a function's statements allow `action` on.
    pub fn allowed(&self, function: &str, action: &str) -> Vec<String> {
        let as_list = |v: &Value| match v {
            Value::Array(items) => items.clone(),
            other => vec![other.clone()],
        };
        self.statements(function)
            .iter()
            .filter(|s| s["Effect"] == "Allow")
            .filter(|s| as_list(&s["Action"]).iter().any(|a| a == action))
            .flat_map(|s| as_list(&s["Resource"]))
            .filter_map(|r| self.eval(&r))
            .collect()
    }
}

/// Matches an IAM resource or EventBridge wildcard pattern (`*` is any run of characters, `/` included).
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if parts.len() == 1 {
        return pattern == text;
    }
    if !text.starts_with(first) || !text[first.len()..].ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(scalar_text).collect::<Vec<_>>().join("."),
        other => other.to_string(),
    }
}

/// YAML to JSON; a tag `!Name` becomes `{"Fn::Name": ...}` (`!Ref` becomes `{"Ref": ...}`, and `!GetAtt a.b`
/// becomes `{"Fn::GetAtt": ["a", "b"]}`).
/// A YAML node as JSON (short-form CloudFormation tags in their long form).
pub(crate) fn to_json(node: &Yaml) -> Value {
    match node {
        Yaml::Value(scalar) => match scalar {
            Scalar::Null => Value::Null,
            Scalar::Boolean(b) => Value::Bool(*b),
            Scalar::Integer(i) => json!(i),
            Scalar::FloatingPoint(f) => json!(f.into_inner()),
            Scalar::String(s) => Value::String(s.to_string()),
        },
        Yaml::Representation(text, _, _) => Value::String(text.to_string()),
        Yaml::Sequence(items) => Value::Array(items.iter().map(to_json).collect()),
        Yaml::Mapping(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                let key = match to_json(k) {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                out.insert(key, to_json(v));
            }
            Value::Object(out)
        }
        Yaml::Tagged(tag, inner) => {
            let inner = to_json(inner);
            let (name, arg) = match tag.suffix.as_str() {
                "Ref" => ("Ref".to_string(), inner),
                "GetAtt" => match inner {
                    Value::String(s) => {
                        let (resource, attribute) =
                            s.split_once('.').expect("!GetAtt Resource.Attribute");
                        ("Fn::GetAtt".into(), json!([resource, attribute]))
                    }
                    other => ("Fn::GetAtt".into(), other),
                },
                "Condition" => ("Condition".into(), inner),
                other => (format!("Fn::{other}"), inner),
            };
            json!({ name: arg })
        }
        Yaml::Alias(_) | Yaml::BadValue => panic!("the template uses no aliases and no bad values"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_like_eventbridge_and_iam() {
        assert!(wildcard_match("imports/*.csv", "imports/a.csv"));
        assert!(wildcard_match(
            "imports/*.csv",
            "imports/team x/new hires.csv"
        ));
        assert!(!wildcard_match(
            "imports/*.csv",
            "reports/imports/a.result.csv"
        ));
        assert!(!wildcard_match("imports/*.csv", "imports/a.csv.bak"));
        assert!(!wildcard_match("imports/*.csv", "imports/a.CSV"));
        assert!(wildcard_match("a*b*c", "aXbYc"));
        assert!(!wildcard_match("a*b*c", "aXc"));
        assert!(wildcard_match("exact", "exact") && !wildcard_match("exact", "exactly"));
    }

    #[test]
    fn short_form_tags_become_long_form() {
        let docs = Yaml::load_from_str(
            "a: !Ref X\nb: !GetAtt Q.Arn\nc: !Sub '${X}-y'\nd: !If [C, 1, !Ref AWS::NoValue]\n",
        )
        .expect("yaml");
        let v = to_json(&docs[0]);
        assert_eq!(v["a"], json!({"Ref": "X"}));
        assert_eq!(v["b"], json!({"Fn::GetAtt": ["Q", "Arn"]}));
        assert_eq!(v["c"], json!({"Fn::Sub": "${X}-y"}));
        assert_eq!(v["d"], json!({"Fn::If": ["C", 1, {"Ref": "AWS::NoValue"}]}));
    }
}
