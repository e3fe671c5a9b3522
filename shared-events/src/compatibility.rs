//! The compatibility gate of the contract: whether one JSON Schema accepts
//! every value another accepts, checked on the schemas' structure, in the
//! manner of a schema registry's `FULL_TRANSITIVE` level:
//!
//! - *backward*: the current schema accepts everything a released one did
//!   (new readers read old records, as a replay does);
//! - *forward*: every released schema accepts everything the current one
//!   does (readers not yet upgraded read new records).
//!
//! The check is conservative: it knows the keywords the contract uses, and a
//! constraint it cannot compare (a changed `pattern`, an unknown keyword) is
//! reported, never assumed compatible. One rule is the contract's own, the
//! tolerant reader's: producers write only the properties their schema
//! declares, and readers ignore the ones they do not know, so adding or
//! removing an optional property is compatible both ways (a registry's
//! "open content model" rule would refuse it).

use serde_json::{Map, Value};

/// Keywords that only annotate: they never change what a schema accepts.
/// `x-…` extensions (such as `x-extensible-enum`) are annotations too.
const ANNOTATIONS: [&str; 10] = [
    "$schema",
    "$id",
    "$defs",
    "$comment",
    "title",
    "description",
    "examples",
    "example",
    "default",
    "deprecated",
];

/// Keywords whose constraints [`accepts_all_of`] compares.
const CHECKED: [&str; 16] = [
    "$ref",
    "type",
    "const",
    "enum",
    "required",
    "properties",
    "additionalProperties",
    "items",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "minItems",
    "maxItems",
    "pattern",
    "format",
];

/// An object schema without keywords.
static EMPTY: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);

/// Deepest nesting followed (the contract has no recursive types).
const MAX_DEPTH: usize = 32;

/// Why `current` is not fully compatible with `released`: empty when it is,
/// both ways.
pub fn full(current: &Value, released: &Value) -> Vec<String> {
    let backward = accepts_all_of(current, released)
        .into_iter()
        .map(|e| format!("backward (a new reader of an old record): {e}"));
    let forward = accepts_all_of(released, current)
        .into_iter()
        .map(|e| format!("forward (an old reader of a new record): {e}"));
    backward.chain(forward).collect()
}

/// Why `reader` may refuse a value that `writer` accepts: empty when every
/// value valid under `writer` is valid under `reader`.
pub fn accepts_all_of(reader: &Value, writer: &Value) -> Vec<String> {
    let mut check = Check {
        reader_root: reader,
        writer_root: writer,
        errors: Vec::new(),
    };
    check.schema(reader, writer, "#", 0);
    check.errors
}

struct Check<'a> {
    reader_root: &'a Value,
    writer_root: &'a Value,
    errors: Vec<String>,
}

impl<'a> Check<'a> {
    fn fail(&mut self, path: &str, reason: impl std::fmt::Display) {
        self.errors.push(format!("{path}: {reason}"));
    }

    /// `reader` accepts every value `writer` accepts, at `path`.
    fn schema(&mut self, reader: &'a Value, writer: &'a Value, path: &str, depth: usize) {
        if depth > MAX_DEPTH {
            return self.fail(path, "nested too deeply to check");
        }
        let (reader, writer) = match (
            resolve(self.reader_root, reader),
            resolve(self.writer_root, writer),
        ) {
            (Ok(r), Ok(w)) => (r, w),
            (Err(e), _) | (_, Err(e)) => return self.fail(path, e),
        };
        let reader = match reader {
            Value::Bool(true) => return,
            Value::Object(map) if map.is_empty() => return,
            Value::Object(map) => map,
            _ => return self.fail(path, "the reader's schema is not an object or `true`"),
        };
        let writer = match writer {
            Value::Bool(false) => return,
            Value::Object(map) => map,
            Value::Bool(true) => &EMPTY,
            _ => return self.fail(path, "the writer's schema is not an object or a boolean"),
        };
        for keyword in reader.keys() {
            let known = CHECKED.contains(&keyword.as_str())
                || ANNOTATIONS.contains(&keyword.as_str())
                || keyword.starts_with("x-");
            if !known {
                self.fail(path, format!("cannot check keyword {keyword:?}"));
            }
        }
        self.types(reader, writer, path);
        self.values(reader, writer, path);
        self.bounds(reader, writer, path);
        self.exact("pattern", reader, writer, path);
        self.exact("format", reader, writer, path);
        self.object(reader, writer, path, depth);
        if let Some(items) = reader.get("items") {
            match writer.get("items") {
                Some(written) => self.schema(items, written, &format!("{path}/items"), depth + 1),
                None => self.fail(path, "the reader constrains items, the writer does not"),
            }
        }
    }

    fn types(&mut self, reader: &Map<String, Value>, writer: &Map<String, Value>, path: &str) {
        let Some(accepted) = types(reader) else {
            return;
        };
        let Some(written) = types(writer) else {
            return self.fail(
                path,
                format!("the reader accepts only {accepted:?}, the writer any type"),
            );
        };
        for t in written {
            let widened = t == "integer" && accepted.contains(&"number");
            if !accepted.contains(&t) && !widened {
                self.fail(path, format!("type {t:?} is no longer accepted"));
            }
        }
    }

    /// `const` and `enum`: the writer's values must all be the reader's.
    fn values(&mut self, reader: &Map<String, Value>, writer: &Map<String, Value>, path: &str) {
        let Some(accepted) = values(reader) else {
            return;
        };
        let Some(written) = values(writer) else {
            return self.fail(
                path,
                format!("the reader accepts only {accepted:?}, the writer more"),
            );
        };
        for value in written {
            if !accepted.contains(&value) {
                self.fail(path, format!("value {value} is not accepted"));
            }
        }
    }

    fn bounds(&mut self, reader: &Map<String, Value>, writer: &Map<String, Value>, path: &str) {
        for (keyword, lower) in [
            ("minLength", true),
            ("minimum", true),
            ("minItems", true),
            ("maxLength", false),
            ("maximum", false),
            ("maxItems", false),
        ] {
            let Some(bound) = reader.get(keyword).and_then(Value::as_f64) else {
                continue;
            };
            let written = writer.get(keyword).and_then(Value::as_f64);
            let within = written.is_some_and(|w| if lower { w >= bound } else { w <= bound });
            if !within {
                let written = written.map_or("none".to_owned(), |w| w.to_string());
                self.fail(
                    path,
                    format!("{keyword} {bound} is stricter than the writer's ({written})"),
                );
            }
        }
    }

    /// A keyword whose inclusion cannot be decided (two regular expressions,
    /// two formats): the writer must state the same.
    fn exact(
        &mut self,
        keyword: &str,
        reader: &Map<String, Value>,
        writer: &Map<String, Value>,
        path: &str,
    ) {
        if let Some(accepted) = reader.get(keyword)
            && writer.get(keyword) != Some(accepted)
        {
            self.fail(
                path,
                format!("{keyword} {accepted} differs from the writer's"),
            );
        }
    }

    fn object(
        &mut self,
        reader: &'a Map<String, Value>,
        writer: &'a Map<String, Value>,
        path: &str,
        depth: usize,
    ) {
        self.required(reader, writer, path);
        let properties = |m: &'a Map<String, Value>| -> &'a Map<String, Value> {
            m.get("properties")
                .and_then(Value::as_object)
                .unwrap_or(&EMPTY)
        };
        let (accepted, written) = (properties(reader), properties(writer));
        let property = |name: &str| format!("{path}/properties/{name}");
        // Properties the writer does not declare are never written (the
        // tolerant reader's rule), so only shared ones are compared.
        for (name, schema) in accepted {
            if let Some(written) = written.get(name) {
                self.schema(schema, written, &property(name), depth + 1);
            }
        }
        let additional = reader.get("additionalProperties");
        for (name, schema) in written {
            if accepted.contains_key(name) {
                continue;
            }
            match additional {
                Some(Value::Bool(false)) => {
                    self.fail(path, format!("property {name:?} is not accepted"));
                }
                Some(rule) => self.schema(rule, schema, &property(name), depth + 1),
                None => {}
            }
        }
    }

    /// Every property the reader requires is one the writer requires.
    fn required(&mut self, reader: &Map<String, Value>, writer: &Map<String, Value>, path: &str) {
        let required = |m: &Map<String, Value>| -> Vec<String> {
            let names = m.get("required").and_then(Value::as_array);
            let names = names.into_iter().flatten().filter_map(Value::as_str);
            names.map(str::to_owned).collect()
        };
        let written_required = required(writer);
        for name in required(reader) {
            if !written_required.contains(&name) {
                self.fail(
                    path,
                    format!("property {name:?} is required, and may be missing"),
                );
            }
        }
    }
}

/// Follows a local `$ref` (`#/$defs/Name`) within `root`.
fn resolve<'v>(root: &'v Value, schema: &'v Value) -> Result<&'v Value, String> {
    let mut schema = schema;
    for _ in 0..MAX_DEPTH {
        let Some(target) = schema.get("$ref").and_then(Value::as_str) else {
            return Ok(schema);
        };
        let beside = schema.as_object().into_iter().flat_map(|m| m.keys());
        if let Some(keyword) = beside
            .into_iter()
            .find(|k| *k != "$ref" && !ANNOTATIONS.contains(&k.as_str()) && !k.starts_with("x-"))
        {
            return Err(format!("cannot check keyword {keyword:?} next to a $ref"));
        }
        let pointer = target
            .strip_prefix('#')
            .ok_or_else(|| format!("cannot follow the non-local reference {target:?}"))?;
        schema = root
            .pointer(pointer)
            .ok_or_else(|| format!("reference {target:?} points nowhere"))?;
    }
    Err("references nest too deeply".to_owned())
}

/// The `type` keyword's types; `None` for any type.
fn types(schema: &Map<String, Value>) -> Option<Vec<&str>> {
    match schema.get("type")? {
        Value::String(t) => Some(vec![t.as_str()]),
        Value::Array(ts) => Some(ts.iter().filter_map(Value::as_str).collect()),
        _ => Some(Vec::new()),
    }
}

/// The values `const` or `enum` allow; `None` when neither is there.
fn values(schema: &Map<String, Value>) -> Option<Vec<&Value>> {
    if let Some(value) = schema.get("const") {
        return Some(vec![value]);
    }
    schema.get("enum")?.as_array().map(|vs| vs.iter().collect())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn released() -> Value {
        json!({
            "type": "object",
            "required": ["type", "data"],
            "properties": {
                "type": { "enum": ["created.v1", "updated.v1"] },
                "data": { "$ref": "#/$defs/Data" }
            },
            "$defs": {
                "Data": {
                    "type": "object",
                    "required": ["id"],
                    "properties": {
                        "id": { "type": "string", "minLength": 1, "maxLength": 64 },
                        "kind": { "type": "string", "x-extensible-enum": ["A", "B"] },
                        "count": { "type": "integer", "minimum": 1 },
                        "tags": { "type": "array", "items": { "type": "string" } }
                    }
                }
            }
        })
    }

    fn changed(edit: impl FnOnce(&mut Value)) -> Vec<String> {
        let mut current = released();
        edit(&mut current);
        full(&current, &released())
    }

    #[test]
    fn a_schema_is_fully_compatible_with_itself() {
        assert_eq!(changed(|_| {}), Vec::<String>::new());
    }

    #[test]
    fn optional_properties_and_extensible_enum_values_may_come_and_go() {
        let errors = changed(|s| {
            let data = &mut s["$defs"]["Data"]["properties"];
            data["nickname"] = json!({ "type": "string" });
            data.as_object_mut().expect("object").remove("tags");
            data["kind"]["x-extensible-enum"] = json!(["A", "B", "C"]);
            data["id"]["description"] = json!("reworded");
        });
        assert_eq!(errors, Vec::<String>::new());
    }

    #[test]
    fn a_new_required_property_breaks_backward() {
        let errors = changed(|s| {
            s["$defs"]["Data"]["required"] = json!(["id", "count"]);
        });
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].starts_with("backward"), "{errors:?}");
        assert!(errors[0].contains("\"count\" is required"), "{errors:?}");
    }

    #[test]
    fn a_dropped_required_property_breaks_forward() {
        let errors = changed(|s| s["required"] = json!(["type"]));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].starts_with("forward"), "{errors:?}");
    }

    #[test]
    fn a_new_value_of_a_closed_enum_breaks_forward_and_a_removed_one_backward() {
        let added = changed(|s| {
            s["properties"]["type"]["enum"] = json!(["created.v1", "updated.v1", "erased.v1"]);
        });
        assert!(
            added.len() == 1 && added[0].starts_with("forward"),
            "{added:?}"
        );
        let removed = changed(|s| s["properties"]["type"]["enum"] = json!(["created.v1"]));
        assert!(
            removed.len() == 1 && removed[0].starts_with("backward"),
            "{removed:?}"
        );
    }

    #[test]
    fn changed_types_bounds_and_patterns_are_breaking() {
        let retyped = changed(|s| {
            s["$defs"]["Data"]["properties"]["count"]["type"] = json!("string");
        });
        assert_eq!(retyped.len(), 2, "both ways: {retyped:?}");
        let tightened = changed(|s| {
            s["$defs"]["Data"]["properties"]["id"]["maxLength"] = json!(32);
        });
        assert!(
            tightened.len() == 1 && tightened[0].starts_with("backward"),
            "{tightened:?}"
        );
        let loosened = changed(|s| {
            s["$defs"]["Data"]["properties"]["count"]
                .as_object_mut()
                .expect("object")
                .remove("minimum");
        });
        assert!(
            loosened.len() == 1 && loosened[0].starts_with("forward"),
            "{loosened:?}"
        );
        let patterned = changed(|s| {
            s["$defs"]["Data"]["properties"]["id"]["pattern"] = json!("^[0-9]+$");
        });
        assert!(!patterned.is_empty(), "an added pattern must be reported");
        let items = changed(|s| {
            s["$defs"]["Data"]["properties"]["tags"]["items"] = json!({ "type": "integer" });
        });
        assert_eq!(items.len(), 2, "{items:?}");
    }

    #[test]
    fn keywords_it_cannot_compare_are_reported_not_assumed_compatible() {
        let errors = changed(|s| {
            s["$defs"]["Data"]["properties"]["id"]["oneOf"] = json!([{ "type": "string" }]);
        });
        assert!(
            errors
                .iter()
                .any(|e| e.contains("cannot check keyword \"oneOf\"")),
            "{errors:?}"
        );
        let dangling = changed(|s| s["properties"]["data"]["$ref"] = json!("#/$defs/Missing"));
        assert!(
            dangling.iter().any(|e| e.contains("points nowhere")),
            "{dangling:?}"
        );
    }

    #[test]
    fn a_closed_reader_refuses_properties_it_does_not_declare() {
        let mut reader = released();
        reader["$defs"]["Data"]["additionalProperties"] = json!(false);
        let mut writer = released();
        writer["$defs"]["Data"]["properties"]["nickname"] = json!({ "type": "string" });
        let errors = accepts_all_of(&reader, &writer);
        assert!(
            errors.len() == 1 && errors[0].contains("\"nickname\""),
            "{errors:?}"
        );
    }
}
