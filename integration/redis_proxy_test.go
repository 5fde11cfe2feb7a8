package integration

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// redisProxy stands between the gateways and Redis. It passes each command
// on and its reply back, one at a time per connection, except the GETs it
// is told to fail: those it answers with an error itself, as a Redis
// coming back after an outage fails the reads its clients sent too early.
type redisProxy struct {
	port int
	ln   net.Listener

	mu       sync.Mutex
	failGets map[string]int // key -> how many of its next GETs fail
	conns    map[net.Conn]struct{}
}

func startRedisProxy(t *testing.T, target string) *redisProxy {
	t.Helper()
	// A port the system picks is free for sure; the gateways only connect to it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &redisProxy{port: ln.Addr().(*net.TCPAddr).Port, ln: ln, failGets: map[string]int{}, conns: map[net.Conn]struct{}{}}
	var wg sync.WaitGroup
	go func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				p.serve(client, target)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		wg.Wait()
	})
	return p
}

// failNextGets makes the next n GETs of key (with the key prefix) fail.
func (p *redisProxy) failNextGets(key string, n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failGets[key] = n
}

// failsLeft is how many of the GETs of key told to fail have not been sent yet.
func (p *redisProxy) failsLeft(key string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.failGets[key]
}

// failGet reports whether this GET of key is one to fail, counting it.
func (p *redisProxy) failGet(args []string) bool {
	if len(args) != 2 || !strings.EqualFold(args[0], "GET") {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failGets[args[1]] == 0 {
		return false
	}
	p.failGets[args[1]]--
	return true
}

func (p *redisProxy) track(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.conns[c] = struct{}{}
}

// serve relays one client connection until either side closes it.
func (p *redisProxy) serve(client net.Conn, target string) {
	defer client.Close()
	server, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer server.Close()
	p.track(client)
	p.track(server)
	fromClient, fromServer := bufio.NewReader(client), bufio.NewReader(server)
	var raw bytes.Buffer
	for {
		raw.Reset()
		args, err := readRESPValue(fromClient, &raw)
		if err != nil {
			return
		}
		if p.failGet(args) {
			if _, err := io.WriteString(client, "-ERR injected: Redis is not answering yet\r\n"); err != nil {
				return
			}
			continue
		}
		if _, err := server.Write(raw.Bytes()); err != nil {
			return
		}
		raw.Reset()
		if _, err := readRESPValue(fromServer, &raw); err != nil {
			return
		}
		if _, err := client.Write(raw.Bytes()); err != nil {
			return
		}
	}
}

// readRESPValue reads one RESP2 or RESP3 value, appending its bytes to raw,
// and returns the bulk strings it holds (a command's name and arguments).
func readRESPValue(rd *bufio.Reader, raw *bytes.Buffer) (bulks []string, err error) {
	line, err := rd.ReadString('\n')
	if err != nil {
		return nil, err
	}
	raw.WriteString(line)
	if len(line) < 3 || !strings.HasSuffix(line, "\r\n") {
		return nil, errors.New("malformed RESP line")
	}
	n, _ := strconv.Atoi(line[1 : len(line)-2])
	elements := 0
	switch line[0] {
	case '+', '-', ':', '_', '#', ',', '(':
		return nil, nil
	case '$', '!', '=': // blob: its length, then the bytes and CRLF
		if n < 0 {
			return nil, nil
		}
		data := make([]byte, n+2)
		if _, err := io.ReadFull(rd, data); err != nil {
			return nil, err
		}
		raw.Write(data)
		return []string{string(data[:n])}, nil
	case '*', '~', '>':
		elements = n
	case '%':
		elements = 2 * n
	case '|': // attributes, then the value they describe
		elements = 2*n + 1
	default:
		return nil, errors.New("unknown RESP type " + strconv.Quote(line[:1]))
	}
	for range elements {
		inner, err := readRESPValue(rd, raw)
		if err != nil {
			return nil, err
		}
		bulks = append(bulks, inner...)
	}
	return bulks, nil
}
