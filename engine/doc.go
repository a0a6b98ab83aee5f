// Package engine is the pure workflow engine: definitions, validation, expressions, compiled plans and the run loop.
//
// It holds no database, HTTP server or job queue. The caller (a River worker in production, a test here) loads a
// workflow version, compiles it once into a Plan (a PlanLoader reads, compiles and caches it per version), and calls Executor.Run with the
// trigger data and the node runs already recorded. Everything the run loop needs from the outside world comes in
// through RunInput: a Recorder for side-effecting node runs, an Observer for live status and the Services a node may
// use. Nothing in this package is global, so one process can run many executions of many workflows at once.
//
// The life of one execution, from the engine's side:
//
//	plans := engine.NewPlanLoader(engine.NewPlanCache(1024), registry, definitions)
//	plan, err := plans.Load(ctx, versionID)
//	res, err := executor.Run(ctx, plan, engine.RunInput{Execution: info, Trigger: trigger, Recorded: runs, ...})
//	// err: infrastructure failure (the Recorder failed); retry the job.
//	// res.Status: succeeded | failed | waiting (schedule a continuation at res.ResumeAt) | canceled.
//	// res.NodeRuns: the runs still to be written, in one batch with the execution's new status.
package engine
