package apply

const childEnv = "CARINA_APPLY_TEST_CHILD"

func runChild() int { return 0 }
