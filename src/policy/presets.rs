//! The presets shipped in `policies/`, compiled into the binary so that a server needs no
//! files besides its own config.

use super::model::CredentialSpec;

/// Every preset: its name (as in `extends:`) and its YAML.
pub const PRESETS: &[(&str, &str)] = &[
    (
        "api-token-slots",
        include_str!("../../policies/api-token-slots.yaml"),
    ),
    ("dual-value", include_str!("../../policies/dual-value.yaml")),
    (
        "dated-provider-key",
        include_str!("../../policies/dated-provider-key.yaml"),
    ),
    (
        "terraform-rotated-date",
        include_str!("../../policies/terraform-rotated-date.yaml"),
    ),
    (
        "random-password",
        include_str!("../../policies/random-password.yaml"),
    ),
];

/// Parses a preset by name. `None` if there is no such preset.
pub fn load(name: &str) -> Option<Result<CredentialSpec, String>> {
    let (_, text) = PRESETS.iter().find(|(n, _)| *n == name)?;
    Some(
        serde_path_to_error::deserialize(serde_norway::Deserializer::from_str(text))
            .map_err(|e| format!("preset {name}: {}: {}", e.path(), e.inner())),
    )
}

pub fn names() -> Vec<&'static str> {
    PRESETS.iter().map(|(n, _)| *n).collect()
}
