# Pure module: no provider, no resource. Everything here is computed from the
# inputs, so `terraform test` runs it for real without a cluster.
terraform {
  required_version = ">= 1.9.0"
}
