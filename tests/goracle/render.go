// Command render is the test oracle for the Python Go-template engine: it renders templates
// with Go's own text/template and Sprig's hermetic function map, the way Tinkerbell does, plus
// Tinkerbell's own functions (formatPartition, netmaskToPrefixLength, toYaml, fromYaml).
//
// With "tinkerbell": true a request's data is Tinkerbell's template data: its "Hardware" is
// decoded into the Go structs Tinkerbell gives templates (templateHardware below), the rest
// stays JSON, and the output is capped at 256 KiB as Tinkerbell caps it. toYaml/fromYaml go
// through JSON as sigs.k8s.io/yaml does, with gopkg.in/yaml.v2 (what it wraps) from Debian.
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
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	yaml "gopkg.in/yaml.v2"
)

type request struct {
	Template   string          `json:"template"`
	Data       json.RawMessage `json:"data"`
	Tinkerbell bool            `json:"tinkerbell"`
}

// --- Tinkerbell's template data: .Hardware as its Go structs ---------------------------------

type ipData struct {
	Address, Netmask, Gateway string
	Family                    int64
}

type dhcpData struct {
	MAC, Hostname, DomainName string
	LeaseTime                 int64
	NameServers, TimeServers  []string
	Arch                      string
	UEFI                      bool
	IfaceName                 string
	IP                        *ipData
	VLANID                    string
}

type netbootData struct {
	AllowPXE, AllowWorkflow *bool
	IPXE                    *struct{ URL, Contents string }
	OSIE                    *struct{ BaseURL, Kernel, Initrd string }
}

type interfaceData struct {
	Netboot     *netbootData
	DHCP        *dhcpData
	DisableDHCP bool
}

type osData struct{ Slug, Distro, Version, ImageTag, OsSlug string }

type instanceIP struct {
	Address, Netmask, Gateway string
	Family                    int64
	Public, Management        bool
}

type instanceData struct {
	ID, State, Hostname string
	AllowPxe, Rescue    bool
	OperatingSystem     *osData
	AlwaysPxe           bool
	IpxeScriptURL       string
	Ips                 []*instanceIP
	Userdata            string
	CryptedRootPassword string
	Tags, SSHKeys       []string
	NetworkReady        bool
}

type metadataData struct {
	State        string
	BondingMode  int64
	Manufacturer *struct{ ID, Slug string }
	Instance     *instanceData
	Custom       interface{}
	Facility     *struct{ PlanSlug, PlanVersionSlug, FacilityCode string }
}

type templateHardware struct {
	Disks      []string
	Interfaces []interfaceData
	UserData   string
	Metadata   metadataData
	VendorData string
}

// --- Tinkerbell's functions -------------------------------------------------------------------

func formatPartition(dev string, partition int) string {
	if strings.HasPrefix(dev, "/dev/disk/") {
		return fmt.Sprintf("%v-part%v", dev, partition)
	}
	if len(dev) > 0 && dev[len(dev)-1] >= '0' && dev[len(dev)-1] <= '9' {
		return fmt.Sprintf("%vp%v", dev, partition)
	}
	return fmt.Sprintf("%v%v", dev, partition)
}

func netmaskToPrefixLength(netmask string) (string, error) {
	ip := net.ParseIP(netmask)
	if ip == nil {
		return "", fmt.Errorf("invalid netmask format: %s", netmask)
	}
	ip4 := ip.To4()
	if ip4 == nil {
		return "", fmt.Errorf("netmask must be IPv4: %s", netmask)
	}
	ones, _ := net.IPMask(ip4).Size()
	return strconv.Itoa(ones), nil
}

// jsonKeys makes yaml.v2's map[interface{}]interface{} JSON-shaped, as sigs.k8s.io/yaml does.
func jsonKeys(value interface{}) interface{} {
	switch v := value.(type) {
	case map[interface{}]interface{}:
		out := make(map[string]interface{}, len(v))
		for key, item := range v {
			var name string
			switch k := key.(type) {
			case string:
				name = k
			case int:
				name = strconv.Itoa(k)
			case int64:
				name = strconv.FormatInt(k, 10)
			case float64:
				name = strconv.FormatFloat(k, 'g', -1, 64)
			case bool:
				name = strconv.FormatBool(k)
			case nil:
				name = "null"
			default:
				name = fmt.Sprint(k)
			}
			out[name] = jsonKeys(item)
		}
		return out
	case []interface{}:
		for i, item := range v {
			v[i] = jsonKeys(item)
		}
		return v
	}
	return value
}

func toYaml(value interface{}) (string, error) {
	data, err := json.Marshal(value)
	if err != nil {
		return "", fmt.Errorf("toYaml: error marshaling into JSON: %v", err)
	}
	var object interface{}
	if err := yaml.Unmarshal(data, &object); err != nil {
		return "", fmt.Errorf("toYaml: error converting JSON to YAML: %v", err)
	}
	out, err := yaml.Marshal(object)
	if err != nil {
		return "", fmt.Errorf("toYaml: %v", err)
	}
	return strings.TrimSuffix(string(out), "\n"), nil
}

func fromYaml(text string) (interface{}, error) {
	if text == "" {
		return nil, errors.New("fromYaml: empty YAML input")
	}
	var object interface{}
	if err := yaml.Unmarshal([]byte(text), &object); err != nil {
		return nil, fmt.Errorf("fromYaml: error converting YAML to JSON: %v", err)
	}
	data, err := json.Marshal(jsonKeys(object))
	if err != nil {
		return nil, fmt.Errorf("fromYaml: error converting YAML to JSON: %v", err)
	}
	var result interface{}
	if err := json.Unmarshal(data, &result); err != nil {
		return nil, fmt.Errorf("fromYaml: %v", err)
	}
	return result, nil
}

var tinkerbellFuncs = template.FuncMap{
	"formatPartition":       formatPartition,
	"netmaskToPrefixLength": netmaskToPrefixLength,
	"toYaml":                toYaml,
	"fromYaml":              fromYaml,
}

const maxRenderBytes = 256 * 1024

type limitedWriter struct {
	buf   bytes.Buffer
	limit int
}

func (w *limitedWriter) Write(p []byte) (int, error) {
	if w.buf.Len()+len(p) > w.limit {
		return 0, fmt.Errorf("rendered template exceeds %d bytes", w.limit)
	}
	return w.buf.Write(p)
}

// tinkerbellData puts .Hardware into Tinkerbell's structs; the rest stays as decoded.
func tinkerbellData(data interface{}) (interface{}, error) {
	root, ok := data.(map[string]interface{})
	if !ok {
		return data, nil
	}
	if raw, ok := root["Hardware"]; ok {
		encoded, err := json.Marshal(raw)
		if err != nil {
			return nil, err
		}
		var hardware templateHardware
		if err := json.Unmarshal(encoded, &hardware); err != nil {
			return nil, err
		}
		root["Hardware"] = hardware
	}
	return root, nil
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
	funcs := sprig.HermeticTxtFuncMap()
	for name, fn := range tinkerbellFuncs {
		funcs[name] = fn
	}
	tmpl, err := template.New("template").
		Option("missingkey=error").
		Funcs(funcs).
		Parse(req.Template)
	if err != nil {
		return response{Error: err.Error()}
	}
	if req.Tinkerbell {
		if data, err = tinkerbellData(data); err != nil {
			return response{Error: "bad hardware data: " + err.Error()}
		}
		limited := &limitedWriter{limit: maxRenderBytes}
		if err := tmpl.Execute(limited, data); err != nil {
			return response{Error: err.Error()}
		}
		out = limited.buf
	} else if err := tmpl.Execute(&out, data); err != nil {
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
