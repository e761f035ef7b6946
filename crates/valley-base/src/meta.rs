//! The metadata block every run writes beside its results, so a result can be traced to the
//! code, seed, data and options that produced it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Tool version, git revision, seed, dataset identity and options of one run. In JSON the
/// fields sit at the top level of the record they stamp (see [`RunMeta::stamp`]); absent
/// fields are left out. `options` is written under the key `config`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunMeta {
    pub valley_version: String,
    /// See [`crate::GIT_REVISION`].
    pub git_revision: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Dataset name, files and sizes, as the data layer describes them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<Value>,
    /// Every option of the run (its config struct).
    #[serde(default, rename = "config", skip_serializing_if = "Option::is_none")]
    pub options: Option<Value>,
}

impl Default for RunMeta {
    fn default() -> Self {
        Self::new()
    }
}

impl RunMeta {
    /// This build's version and git revision, nothing else yet.
    pub fn new() -> Self {
        Self {
            valley_version: crate::VERSION.to_string(),
            git_revision: crate::GIT_REVISION.to_string(),
            seed: None,
            dataset: None,
            options: None,
        }
    }

    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    pub fn with_dataset(mut self, dataset: Value) -> Self {
        self.dataset = Some(dataset);
        self
    }

    /// Records `options` (any serialisable config; `null` if it cannot be serialised).
    pub fn with_options(mut self, options: &impl Serialize) -> Self {
        self.options = Some(serde_json::to_value(options).unwrap_or(Value::Null));
        self
    }

    /// The block as a JSON object.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// `record` with this block's fields added at its top level (a field of the record with
    /// the same name is replaced). A record that is not an object is returned unchanged.
    pub fn stamp(&self, mut record: Value) -> Value {
        if let (Some(obj), Value::Object(fields)) = (record.as_object_mut(), self.to_json()) {
            obj.extend(fields);
        }
        record
    }

    /// The block as string pairs for a safetensors header (nested values as compact JSON).
    pub fn to_pairs(&self) -> Vec<(String, String)> {
        let Value::Object(fields) = self.to_json() else { return Vec::new() };
        fields
            .into_iter()
            .map(|(k, v)| {
                let text = match v {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                (k, text)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn git_revision_and_version_are_set() {
        let m = RunMeta::new();
        assert!(!m.git_revision.is_empty());
        assert!(!m.git_revision.contains('\n'));
        assert_eq!(m.valley_version, env!("CARGO_PKG_VERSION"));
    }

    #[test]
    fn round_trips_through_json() {
        let m = RunMeta::new()
            .with_seed(7)
            .with_dataset(json!({ "name": "fashion-mnist", "train_size": 60000 }))
            .with_options(&json!({ "epochs": 3 }));
        let text = serde_json::to_string(&m).unwrap();
        assert_eq!(serde_json::from_str::<RunMeta>(&text).unwrap(), m);
        let v = m.to_json();
        assert_eq!(v["config"]["epochs"], 3);
        assert_eq!(v["seed"], 7);
        let bare = RunMeta::new().to_json();
        assert!(bare.get("seed").is_none() && bare.get("config").is_none(), "{bare}");
        assert_eq!(serde_json::from_value::<RunMeta>(bare).unwrap(), RunMeta::new());
    }

    #[test]
    fn stamp_adds_fields_at_top_level_and_pairs_are_flat_strings() {
        let m = RunMeta::new().with_seed(3);
        let v = m.stamp(json!({ "test_accuracy": 0.5 }));
        assert_eq!(v["test_accuracy"], 0.5);
        assert_eq!(v["git_revision"], m.git_revision.as_str());
        assert_eq!(v["seed"], 3);
        let pairs = m.to_pairs();
        assert!(pairs.contains(&("seed".to_string(), "3".to_string())));
        assert!(pairs.contains(&("valley_version".to_string(), m.valley_version.clone())));
    }
}
