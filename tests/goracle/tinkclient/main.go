// tinkclient: a second, independent client of Rackpilot's Tinkerbell WorkflowService, in Go,
// built from the project's .proto with Debian's protoc-gen-go and protoc-gen-go-grpc. It
// speaks to the server as tink-agent does and prints what happened as JSON, one object.
//
//	tinkclient -addr HOST:PORT -agent ID get
//	    one GetAction: the action, or the error's code, message and PreconditionFailure types
//	tinkclient -addr HOST:PORT -agent ID -actions N [-fail NAME] run
//	    N actions: GetAction (retried while nothing is available), RUNNING, then SUCCESS
//	    (FAILED with a message for the action named by -fail); a repeated RUNNING report
//	    checks that reports are idempotent
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "rackpilot.local/tinkproto"
)

type rpcError struct {
	Code       string   `json:"code"`
	Message    string   `json:"message"`
	Violations []string `json:"violations,omitempty"`
}

type action struct {
	WorkflowID   string   `json:"workflow_id"`
	TaskID       string   `json:"task_id"`
	AgentID      string   `json:"agent_id"`
	ActionID     string   `json:"action_id"`
	Name         string   `json:"name"`
	Image        string   `json:"image"`
	Timeout      int64    `json:"timeout"`
	Command      []string `json:"command"`
	Volumes      []string `json:"volumes"`
	Environment  []string `json:"environment"`
	Pid          string   `json:"pid"`
	NamespacePid string   `json:"namespace_pid"`
}

func describe(err error) *rpcError {
	st := status.Convert(err)
	out := &rpcError{Code: st.Code().String(), Message: st.Message()}
	for _, detail := range st.Details() {
		if failure, ok := detail.(*errdetails.PreconditionFailure); ok {
			for _, v := range failure.GetViolations() {
				out.Violations = append(out.Violations, v.GetType())
			}
		}
	}
	return out
}

func fromResponse(r *pb.ActionResponse) action {
	return action{
		WorkflowID: r.GetWorkflowId(), TaskID: r.GetTaskId(), AgentID: r.GetAgentId(),
		ActionID: r.GetActionId(), Name: r.GetName(), Image: r.GetImage(), Timeout: r.GetTimeout(),
		Command: r.GetCommand(), Volumes: r.GetVolumes(), Environment: r.GetEnvironment(),
		Pid: r.GetPid(), NamespacePid: r.GetNamespaces().GetPid(),
	}
}

func report(ctx context.Context, c pb.WorkflowServiceClient, agent string, r *pb.ActionResponse,
	state pb.ActionStatusRequest_StateType, message string) error {
	now := timestamppb.Now()
	_, err := c.ReportActionStatus(ctx, &pb.ActionStatusRequest{
		WorkflowId: r.GetWorkflowId(), AgentId: agent, TaskId: r.GetTaskId(),
		ActionId: r.GetActionId(), ActionName: r.GetName(), ActionState: state,
		ExecutionStart: now, ExecutionStop: now, ExecutionDuration: "0s",
		Message: &pb.ActionMessage{Message: message},
	})
	return err
}

func main() {
	addr := flag.String("addr", "127.0.0.1:42113", "server")
	agent := flag.String("agent", "", "agent id (the worker's MAC)")
	actions := flag.Int("actions", 1, "run: how many actions")
	fail := flag.String("fail", "", "run: the action to report FAILED")
	flag.Parse()
	conn, err := grpc.Dial(*addr, grpc.WithInsecure()) // grpc-go 1.33 (Debian): WithInsecure is its spelling
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	defer conn.Close()
	client := pb.NewWorkflowServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out := map[string]interface{}{}
	request := &pb.ActionRequest{
		AgentId: *agent,
		AgentAttributes: &pb.AgentAttributes{
			Cpu:     &pb.CPU{TotalCores: 2, TotalThreads: 4},
			Memory:  &pb.Memory{Total: "2GB"},
			Network: []*pb.Network{{Name: "eth0", Mac: *agent}},
			Product: &pb.Product{Vendor: "Go", Name: "tinkclient"},
		},
	}
	switch flag.Arg(0) {
	case "get":
		r, err := client.GetAction(ctx, request)
		if err != nil {
			out["error"] = describe(err)
		} else {
			out["action"] = fromResponse(r)
		}
	case "run":
		ran := []action{}
		for len(ran) < *actions {
			r, err := client.GetAction(ctx, request)
			if status.Code(err) == codes.FailedPrecondition {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			if err != nil {
				out["error"] = describe(err)
				break
			}
			for i := 0; i < 2; i++ { // the second RUNNING is a retried report
				if err := report(ctx, client, *agent, r, pb.ActionStatusRequest_RUNNING, ""); err != nil {
					out["error"] = describe(err)
				}
			}
			state, message := pb.ActionStatusRequest_SUCCESS, ""
			if r.GetName() == *fail {
				state, message = pb.ActionStatusRequest_FAILED, "failed on purpose by tinkclient"
			}
			if err := report(ctx, client, *agent, r, state, message); err != nil {
				out["error"] = describe(err)
				break
			}
			ran = append(ran, fromResponse(r))
			if state == pb.ActionStatusRequest_FAILED {
				break
			}
		}
		out["ran"] = ran
	default:
		fmt.Fprintln(os.Stderr, "usage: tinkclient -addr A -agent ID get|run")
		os.Exit(2)
	}
	json.NewEncoder(os.Stdout).Encode(out)
}
