package policy_test

import "fmt"

// secret is a value distinctive enough that finding it in a message can
// only mean the message leaked a variable's value.
const secret = "s3cr3t-VALUE-9f8e7d"

// manyVars returns n valid variables, all holding secret.
func manyVars(n int) map[string]string {
	vars := make(map[string]string, n)
	for i := range n {
		vars[fmt.Sprintf("VAR_%03d", i)] = secret
	}
	return vars
}
