// Command helper is a tiny stand-in server for the launch tests: it listens
// on the addresses given by -a and -b (port 0 by default), prints its LISTEN
// line, burns CPU or memory on demand, and exits 0 on SIGTERM unless told to
// ignore it.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	a := flag.String("a", "127.0.0.1:0", "first listener")
	b := flag.String("b", "127.0.0.1:0", "second listener")
	burn := flag.Duration("burn", 0, "CPU time to burn before listening")
	alloc := flag.Int("alloc-mb", 0, "megabytes to touch before listening")
	ignoreTerm := flag.Bool("ignore-term", false, "ignore SIGTERM")
	exitEarly := flag.Int("exit", -1, "exit with this status instead of listening")
	noListen := flag.Bool("no-listen", false, "never print the LISTEN line")
	later := flag.String("later", "", "announce this `name=address` on a second LISTEN line")
	flag.Parse()

	if *exitEarly >= 0 {
		fmt.Fprintln(os.Stderr, "helper: failing on purpose")
		os.Exit(*exitEarly)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	if *ignoreTerm {
		signal.Ignore(syscall.SIGTERM)
	}
	end := time.Now().Add(*burn)
	x := 0
	for time.Now().Before(end) {
		x++
	}
	mem := make([]byte, *alloc<<20)
	for i := range mem {
		mem[i] = byte(i)
	}
	la, err := net.Listen("tcp", *a)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	lb, err := net.Listen("tcp", *b)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("starting up") // a line before LISTEN must be skipped
	if !*noListen {
		fmt.Printf("LISTEN a=%s b=%s\n", la.Addr(), lb.Addr())
		if *later != "" {
			fmt.Printf("LISTEN %s\n", *later)
		}
	}
	<-sig
	_ = la.Close()
	_ = lb.Close()
	if len(mem) > 0 && mem[len(mem)-1] == 0 && x < 0 {
		fmt.Println() // keep mem and x alive
	}
}
