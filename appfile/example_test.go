package appfile_test

import (
	"errors"
	"fmt"

	"github.com/carina-gitops/carina/appfile"
)

func Example() {
	data := []byte(`name: shop
namespace: shop
services:
  web:
    type: webservice
    image: ghcr.io/acme/web:1.0.0
environments:
  staging: {clusters: [dev], namespace: shop-staging}
  prod:
    clusters: [prod-eu, prod-us]
    approval: true
    overrides:
      web: {cpu: "1"}
`)
	app, err := appfile.Parse("Appfile", data)
	if err != nil {
		fmt.Println(err)
		return
	}
	envs, err := appfile.Environments(app)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, env := range envs {
		fmt.Println(env.Name, env.Step, env.Clusters, env.Namespace, len(env.Overrides))
	}
	// Output:
	// staging deploy-staging [dev] shop-staging 0
	// prod deploy-prod [prod-eu prod-us] shop 1
}

func ExampleErrorList() {
	data := []byte(`name: shop
services:
  web: {image: ghcr.io/acme/web:1.0.0, dependsOn: [db]}
  worker: {type: worker, timeout: 5m}
workflow:
  steps:
    - {name: prod, type: deploy, properties: {policies: [prod]}}
`)
	_, err := appfile.Parse("Appfile", data)
	var list appfile.ErrorList
	if errors.As(err, &list) {
		for _, e := range list {
			fmt.Println(e.Pos.Line, e.Msg)
		}
	}
	// Output:
	// 3 component "web": type is required
	// 3 component "web": dependsOn names unknown component "db"
	// 7 step "prod": policy "prod" is not defined
}
