//! Patch targets: which resources a `target` selector picks (group, version, kind, anchored
//! name and namespace regular expressions, label and annotation selectors).
