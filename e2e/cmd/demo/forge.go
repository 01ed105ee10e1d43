package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
)

// standIn is a stand-in for the few calls of GitHub's REST API that the
// agent makes for one repository: the open pull requests (preview
// discovery), commit statuses, and pull request comments. GitHub cannot
// run on this machine and make demo needs nothing but Go (the agent's
// previews are tested against a real Gitea). The demo opens and closes
// the pull requests itself (open, close).
type standIn struct {
	repo  string // owner/name
	token string
	url   string

	mu       sync.Mutex
	prs      map[int]*ghPull
	statuses map[string][]ghStatus // by commit, in the order posted
	comments map[int][]ghComment
	nextID   int64
}

type ghRepo struct {
	FullName string `json:"full_name"`
	CloneURL string `json:"clone_url,omitempty"`
}

type ghBranch struct {
	Ref  string  `json:"ref"`
	SHA  string  `json:"sha"`
	Repo *ghRepo `json:"repo"`
}

type ghUser struct {
	Login string `json:"login"`
}

type ghPull struct {
	Number  int        `json:"number"`
	State   string     `json:"state"`
	Title   string     `json:"title"`
	HTMLURL string     `json:"html_url"`
	Draft   bool       `json:"draft"`
	Merged  bool       `json:"merged"`
	User    ghUser     `json:"user"`
	Labels  []struct{} `json:"labels"`
	Head    ghBranch   `json:"head"`
	Base    ghBranch   `json:"base"`
}

type ghStatus struct {
	State       string `json:"state"`
	Context     string `json:"context"`
	Description string `json:"description"`
	TargetURL   string `json:"target_url,omitempty"`
}

type ghComment struct {
	ID      int64  `json:"id"`
	Body    string `json:"body"`
	HTMLURL string `json:"html_url"`
}

// startStandIn serves the stand-in on a free loopback port until ctx
// ends or the returned stop is called.
func startStandIn(ctx context.Context, repo, token string) (*standIn, func(), error) {
	s := &standIn{repo: repo, token: token, prs: map[int]*ghPull{}, statuses: map[string][]ghStatus{}, comments: map[int][]ghComment{}}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	s.url = "http://" + ln.Addr().String()
	srv := &http.Server{Handler: s.routes(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return s, func() { _ = srv.Close() }, nil
}

func (s *standIn) routes() http.Handler {
	mux := http.NewServeMux()
	base := "/repos/" + s.repo
	mux.HandleFunc("GET "+base+"/pulls", s.listPulls)
	mux.HandleFunc("POST "+base+"/statuses/{sha}", s.postStatus)
	mux.HandleFunc("GET "+base+"/commits/{ref}/status", s.combinedStatus)
	mux.HandleFunc("GET "+base+"/issues/{number}/comments", s.listComments)
	mux.HandleFunc("POST "+base+"/issues/{number}/comments", s.createComment)
	mux.HandleFunc("PATCH "+base+"/issues/comments/{id}", s.editComment)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+s.token {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "Bad credentials"})
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
		mux.ServeHTTP(w, r)
	})
}

// open adds pull request number from branch at head to main.
func (s *standIn) open(number int, title, author, branch, head, base, baseSHA string) ghPull {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := &ghRepo{FullName: s.repo}
	pr := &ghPull{Number: number, State: "open", Title: title, User: ghUser{Login: author}, Labels: []struct{}{},
		HTMLURL: fmt.Sprintf("%s/%s/pull/%d", s.url, s.repo, number),
		Head:    ghBranch{Ref: branch, SHA: head, Repo: r}, Base: ghBranch{Ref: base, SHA: baseSHA, Repo: r}}
	s.prs[number] = pr
	return *pr
}

// close closes pull request number without merging it.
func (s *standIn) close(number int) ghPull {
	s.mu.Lock()
	defer s.mu.Unlock()
	pr := s.prs[number]
	pr.State = "closed"
	return *pr
}

// status is the latest status of context on sha, and whether there is
// one.
func (s *standIn) status(sha, context string) (ghStatus, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := s.statuses[sha]
	for i := len(list) - 1; i >= 0; i-- {
		if list[i].Context == context {
			return list[i], true
		}
	}
	return ghStatus{}, false
}

// commentsOn are the comments on pull request number.
func (s *standIn) commentsOn(number int) []ghComment {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.comments[number])
}

func (s *standIn) listPulls(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	out := []ghPull{}
	for _, n := range slices.Sorted(maps.Keys(s.prs)) {
		if s.prs[n].State == "open" {
			out = append(out, *s.prs[n])
		}
	}
	s.mu.Unlock()
	if laterPage(r) {
		out = []ghPull{}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *standIn) postStatus(w http.ResponseWriter, r *http.Request) {
	var st ghStatus
	if err := json.NewDecoder(r.Body).Decode(&st); err != nil || st.Context == "" || st.State == "" {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"message": "Validation Failed"})
		return
	}
	s.mu.Lock()
	s.statuses[r.PathValue("sha")] = append(s.statuses[r.PathValue("sha")], st)
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, st)
}

func (s *standIn) combinedStatus(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	latest := map[string]ghStatus{}
	var order []string
	for _, st := range s.statuses[r.PathValue("ref")] {
		if _, ok := latest[st.Context]; !ok {
			order = append(order, st.Context)
		}
		latest[st.Context] = st
	}
	s.mu.Unlock()
	out := struct {
		State    string     `json:"state"`
		Statuses []ghStatus `json:"statuses"`
	}{State: "success", Statuses: []ghStatus{}}
	for _, c := range order {
		st := latest[c]
		out.Statuses = append(out.Statuses, st)
		switch {
		case st.State == "failure" || st.State == "error":
			out.State = "failure"
		case st.State == "pending" && out.State == "success":
			out.State = "pending"
		}
	}
	if len(order) == 0 {
		out.State = "pending"
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *standIn) listComments(w http.ResponseWriter, r *http.Request) {
	n, _ := strconv.Atoi(r.PathValue("number"))
	out := s.commentsOn(n)
	if out == nil || laterPage(r) {
		out = []ghComment{}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *standIn) createComment(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.Atoi(r.PathValue("number"))
	var in struct {
		Body string `json:"body"`
	}
	if err != nil || json.NewDecoder(r.Body).Decode(&in) != nil {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"message": "Validation Failed"})
		return
	}
	s.mu.Lock()
	if s.prs[n] == nil {
		s.mu.Unlock()
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
		return
	}
	s.nextID++
	c := ghComment{ID: s.nextID, Body: in.Body, HTMLURL: fmt.Sprintf("%s#issuecomment-%d", s.prs[n].HTMLURL, s.nextID)}
	s.comments[n] = append(s.comments[n], c)
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, c)
}

func (s *standIn) editComment(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	var in struct {
		Body string `json:"body"`
	}
	if err != nil || json.NewDecoder(r.Body).Decode(&in) != nil {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"message": "Validation Failed"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for n, cs := range s.comments {
		for i := range cs {
			if cs[i].ID == id {
				cs[i].Body = in.Body
				writeJSON(w, http.StatusOK, cs[i])
				s.comments[n] = cs
				return
			}
		}
	}
	writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// laterPage: the stand-in answers every listing on its first page.
func laterPage(r *http.Request) bool {
	p, _ := strconv.Atoi(r.URL.Query().Get("page"))
	return p > 1
}
