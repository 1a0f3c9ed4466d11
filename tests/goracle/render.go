// Command render is the test oracle for the Python Go-template engine: it renders templates
// with Go's own text/template and Sprig's hermetic function map, the way Tinkerbell does.
//
// Input on stdin is one JSON object {"template": "...", "data": ...} or a JSON list of them;
// output is one {"output": "...", "error": "..."} object per input, in the same shape. The
// output is also given base64-encoded ("output_b64") because templates may produce bytes that
// are not valid UTF-8 (slicing a string in the middle of a character) and JSON would replace
// them. Integers in the data decode as Go ints and other numbers as float64, matching how the
// Python engine sees JSON data.
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
)

type request struct {
	Template string          `json:"template"`
	Data     json.RawMessage `json:"data"`
}

type response struct {
	Output    string `json:"output"`
	OutputB64 string `json:"output_b64"`
	Error     string `json:"error"`
}

// convert turns json.Number leaves into int (when integral and in range) or float64.
func convert(value interface{}) interface{} {
	switch v := value.(type) {
	case json.Number:
		text := string(v)
		if !strings.ContainsAny(text, ".eE") {
			if i, err := v.Int64(); err == nil {
				return int(i)
			}
		}
		f, _ := v.Float64()
		return f
	case map[string]interface{}:
		for key, item := range v {
			v[key] = convert(item)
		}
		return v
	case []interface{}:
		for i, item := range v {
			v[i] = convert(item)
		}
		return v
	}
	return value
}

func decodeData(raw json.RawMessage) (interface{}, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	decoder := json.NewDecoder(bytes.NewReader(raw))
	decoder.UseNumber()
	var data interface{}
	if err := decoder.Decode(&data); err != nil {
		return nil, err
	}
	return convert(data), nil
}

func render(req request) (resp response) {
	var out bytes.Buffer
	defer func() {
		// A panic outside a function call (text/template recovers those) still becomes an
		// error of this one request rather than ending the batch.
		if recovered := recover(); recovered != nil {
			resp = response{Error: fmt.Sprintf("panic: %v", recovered)}
		}
	}()
	data, err := decodeData(req.Data)
	if err != nil {
		return response{Error: "bad data: " + err.Error()}
	}
	tmpl, err := template.New("template").
		Option("missingkey=error").
		Funcs(sprig.HermeticTxtFuncMap()).
		Parse(req.Template)
	if err != nil {
		return response{Error: err.Error()}
	}
	if err := tmpl.Execute(&out, data); err != nil {
		return response{Error: err.Error()}
	}
	text := out.String()
	return response{Output: text, OutputB64: base64.StdEncoding.EncodeToString(out.Bytes())}
}

func main() {
	var raw json.RawMessage
	if err := json.NewDecoder(os.Stdin).Decode(&raw); err != nil {
		fmt.Fprintln(os.Stderr, "render: reading request:", err)
		os.Exit(2)
	}
	var result interface{}
	if trimmed := bytes.TrimSpace(raw); len(trimmed) > 0 && trimmed[0] == '[' {
		var reqs []request
		if err := json.Unmarshal(raw, &reqs); err != nil {
			fmt.Fprintln(os.Stderr, "render: decoding batch:", err)
			os.Exit(2)
		}
		resps := make([]response, len(reqs))
		for i, req := range reqs {
			resps[i] = render(req)
		}
		result = resps
	} else {
		var req request
		if err := json.Unmarshal(raw, &req); err != nil {
			fmt.Fprintln(os.Stderr, "render: decoding request:", err)
			os.Exit(2)
		}
		result = render(req)
	}
	if err := json.NewEncoder(os.Stdout).Encode(result); err != nil {
		fmt.Fprintln(os.Stderr, "render: writing response:", err)
		os.Exit(2)
	}
}
