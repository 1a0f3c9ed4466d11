//go:build ignore

// Command linuxkit_yaml reads LinuxKit recipes the way `linuxkit build` first reads them: with
// gopkg.in/yaml.v3 (Debian's golang-gopkg-yaml.v3-dev), before any schema check. It is the
// oracle for which recipes are YAML at all.
//
// Input on stdin: a JSON list of recipe texts. Output: a JSON list, one answer per recipe,
// {"ok": true, "images": [...]} with every `image` value in document order, or
// {"ok": false, "error": "..."}.
package main

import (
	"encoding/json"
	"os"

	"gopkg.in/yaml.v3"
)

type answer struct {
	OK     bool     `json:"ok"`
	Error  string   `json:"error,omitempty"`
	Images []string `json:"images"`
}

// images collects the values of `image` keys, walking the node tree in document order.
func images(node *yaml.Node, found []string) []string {
	if node.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(node.Content); i += 2 {
			key, value := node.Content[i], node.Content[i+1]
			if key.Value == "image" && value.Kind == yaml.ScalarNode {
				found = append(found, value.Value)
			}
			found = images(value, found)
		}
		return found
	}
	for _, child := range node.Content {
		found = images(child, found)
	}
	return found
}

func main() {
	var texts []string
	if err := json.NewDecoder(os.Stdin).Decode(&texts); err != nil {
		panic(err)
	}
	answers := make([]answer, 0, len(texts))
	for _, text := range texts {
		var root yaml.Node
		if err := yaml.Unmarshal([]byte(text), &root); err != nil {
			answers = append(answers, answer{Error: err.Error(), Images: []string{}})
			continue
		}
		answers = append(answers, answer{OK: true, Images: images(&root, []string{})})
	}
	if err := json.NewEncoder(os.Stdout).Encode(answers); err != nil {
		panic(err)
	}
}
