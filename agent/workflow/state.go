package workflow

import (
	"encoding/json"
	"fmt"
	"time"
)

// Phase is the state of one step.
type Phase string

// The phases. Succeeded, Failed and Skipped are final.
const (
	Pending   Phase = "pending"
	Running   Phase = "running"
	Suspended Phase = "suspended"
	Succeeded Phase = "succeeded"
	Failed    Phase = "failed"
	Skipped   Phase = "skipped"
)

// Final reports whether the phase never changes within a release.
func (p Phase) Final() bool { return p == Succeeded || p == Failed || p == Skipped }

// State is the persisted progress of an application's workflow for one
// release (a revision and the digest of everything the workflow reads). A
// new release starts the workflow over.
type State struct {
	Release string                `json:"release"`
	Steps   map[string]*StepState `json:"steps,omitempty"`
}

// StepState is the progress of one step.
type StepState struct {
	Phase    Phase     `json:"phase"`
	Message  string    `json:"message,omitempty"`
	Started  time.Time `json:"started,omitzero"`
	Finished time.Time `json:"finished,omitzero"`
	// Resumed is set by Resume on a suspended step.
	Resumed bool `json:"resumed,omitempty"`
}

// NewState returns the empty state of release.
func NewState(release string) *State {
	return &State{Release: release, Steps: map[string]*StepState{}}
}

// Step returns the state of a step, creating it pending.
func (s *State) Step(name string) *StepState {
	if s.Steps == nil {
		s.Steps = map[string]*StepState{}
	}
	st, ok := s.Steps[name]
	if !ok {
		st = &StepState{Phase: Pending}
		s.Steps[name] = st
	}
	return st
}

// Resume marks every suspended step resumed and reports how many there
// were.
func (s *State) Resume() int {
	n := 0
	for _, st := range s.Steps {
		if st.Phase == Suspended && !st.Resumed {
			st.Resumed = true
			n++
		}
	}
	return n
}

// MaxEncodedBytes bounds an encoded State.
const MaxEncodedBytes = 64 << 10

// Encode returns the compact JSON of the state.
func (s *State) Encode() (string, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return "", err
	}
	if len(b) > MaxEncodedBytes {
		return "", fmt.Errorf("workflow state is larger than %d bytes", MaxEncodedBytes)
	}
	return string(b), nil
}

// Decode reads an encoded State; an empty string is a nil State.
func Decode(s string) (*State, error) {
	if s == "" {
		return nil, nil
	}
	if len(s) > MaxEncodedBytes {
		return nil, fmt.Errorf("workflow state is larger than %d bytes", MaxEncodedBytes)
	}
	var st State
	if err := json.Unmarshal([]byte(s), &st); err != nil {
		return nil, fmt.Errorf("workflow state cannot be decoded: %w", err)
	}
	if st.Steps == nil {
		st.Steps = map[string]*StepState{}
	}
	return &st, nil
}
