package tokenstore

import (
	"context"
	"net/url"
	"path"
	"sync"

	"github.com/triggergate/caddy-trigger-gateway/internal/projectname"
)

// FoldProject is the form of a project name that storage keys and
// comparisons use (projectname.Fold): project paths are case-insensitive,
// as GitLab's are ("Group/Project" is "group/project"), and a numeric ID
// is read without leading zeros ("009" is "9"), as GitLab reads it. It
// allocates only when the name has upper-case letters.
func FoldProject(project string) string { return projectname.Fold(project) }

// caseVariants finds the project directories that stores before project
// keys were folded wrote under a name with upper-case letters (or, before
// numeric IDs lost their leading zeros, under "009"): their markers belong
// to the folded project's listing. They are found with one
// listing of the projects directory, the first time a project's triggers
// are listed, and kept for the store's life: no store writes such a
// directory any more (an instance of an older version still running beside
// this one is seen after a restart).
type caseVariants struct {
	mu    sync.Mutex
	found bool
	dirs  map[string][]string // folded project -> directories of its case variants
}

// variantDirs returns the marker directories of project's case variants.
// A failed listing is retried on the next call; meanwhile the listing
// holds the triggers recorded under the folded name only.
func (s *Store) variantDirs(ctx context.Context, project string) []string {
	v := &s.variants
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.found {
		keys, err := s.storage.List(ctx, projectsDir, false)
		if err != nil && !isNotExist(err) {
			return nil
		}
		v.dirs = make(map[string][]string)
		for _, key := range keys {
			name, err := url.PathUnescape(path.Base(key))
			if err != nil || FoldProject(name) == name {
				continue
			}
			v.dirs[FoldProject(name)] = append(v.dirs[FoldProject(name)], projectsDir+"/"+path.Base(key))
		}
		v.found = true
	}
	return v.dirs[FoldProject(project)]
}
