package mock_test

import (
	"fmt"
	"io"
	"net/http"
	"time"

	"fanout/mockbackends/mock"
	"fanout/mockbackends/model"
)

// A test starts the four services on free ports, changes a model at run
// time and reads the stats.
func ExampleStart() {
	c, err := mock.Start(mock.Options{NoLatency: true, Seed: 1})
	if err != nil {
		panic(err)
	}
	defer c.Close()

	slow := model.Fixed(5 * time.Millisecond)
	if err := c.SetConfig("results", model.Service{Latency: &slow, Faults: &model.Faults{Error: 1}}); err != nil {
		panic(err)
	}
	resp, err := http.Get("http://" + c.Addr("results") + "/results/42")
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, string(body))

	st := c.Stats("results")
	fmt.Println(st.Requests, st.Errors.Error, st.Routes[model.RouteGetResults].Served)
	// Output:
	// 500 {"error":"injected fault: internal error","code":"internal"}
	// 1 1 1
}
