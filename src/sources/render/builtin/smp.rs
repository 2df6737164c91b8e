//! Strategic merge patch on JSON values, with the merge keys of the Kubernetes types kustomize
//! knows (containers and initContainers by name, env by name, volumes by name, …).
