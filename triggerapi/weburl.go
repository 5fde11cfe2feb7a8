package triggerapi

// IsPipelineWebURL reports whether u may be kept as a pipeline's web_url:
// an absolute http or https URL with a host and no user info, of URI
// characters only, at most MaxPipelineWebURL bytes long. The upstream
// modules check the URLs a CI's answer names with it, as ParsePipeline
// checks GitLab's.
func IsPipelineWebURL(u string) bool { return isWebURL([]byte(u)) }
