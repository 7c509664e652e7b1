%% Erlang/OTP reference for the actors benchmark suite: the same workloads as bench/systems/*.py.
%%
%%   erlc -o OUT bench.erl
%%   erl -noshell -pa OUT +sbwt none -run bench main WORKLOAD N [Key Value]...
%%
%% Prints one JSON object of metrics on stdout and halts.  Keys: seconds, warmup, tick_min,
%% tick_max (ticking), senders (fanin).  Times are from erlang:monotonic_time/1.
-module(bench).
-export([main/1]).

main([Workload, NStr | Rest]) ->
    try
        Opts = opts(Rest, #{}),
        Metrics = run(list_to_atom(Workload), list_to_integer(NStr), Opts),
        io:format("~s~n", [json(Metrics)]),
        halt(0)
    catch
        Class:Reason:Stack ->
            io:format(standard_error, "~p:~p~n~p~n", [Class, Reason, Stack]),
            halt(1)
    end.

opts([K, V | Rest], Acc) -> opts(Rest, Acc#{list_to_atom(K) => num(V)});
opts([], Acc) -> Acc.

num(S) ->
    try list_to_float(S) catch error:badarg -> float(list_to_integer(S)) end.

now_us() -> erlang:monotonic_time(microsecond).

%% ---- spawn: time to pids (spawn loop), time until every process has run and parked ----
run(spawn, N, _) ->
    Self = self(),
    T0 = now_us(),
    spawn_n(N, fun() -> Self ! parked, receive stop -> ok end end),
    T1 = now_us(),
    wait_n(N),
    T2 = now_us(),
    [{time_to_pids_s, (T1 - T0) / 1.0e6}, {time_to_parked_s, (T2 - T0) / 1.0e6},
     {us_per_spawn, (T2 - T0) / N}];
%% ---- idle memory: OS RSS and erlang:memory(processes) growth per parked process ----
run(idle_memory, N, _) ->
    Self = self(),
    garbage_collect(),
    {Rss0, Proc0} = {rss(), erlang:memory(processes)},
    spawn_n(N, fun() -> Self ! parked, receive stop -> ok end end),
    wait_n(N),
    garbage_collect(),
    {Rss1, Proc1} = {rss(), erlang:memory(processes)},
    [{rss_per_actor_bytes, (Rss1 - Rss0) / N}, {vm_process_bytes_per_actor, (Proc1 - Proc0) / N}];
%% ---- ticking fan-in: N tickers on erlang:send_after, one collector ----
run(ticking, N, #{seconds := Seconds, warmup := Warmup, tick_min := Min, tick_max := Max}) ->
    rand:seed(exsss, {1, 2, 3}),
    Start = now_us(),
    WindowStart = Start + round(Warmup * 1.0e6),
    WindowEnd = WindowStart + round(Seconds * 1.0e6),
    Collector = spawn(fun() -> collector(WindowStart, WindowEnd, []) end),
    T0 = now_us(),
    spawn_tickers(N, N, Collector, Min, Max),
    SpawnS = (now_us() - T0) / 1.0e6,
    sleep_until(WindowStart),
    {Cpu0, _} = statistics(runtime),
    W0 = now_us(),
    sleep_until(WindowEnd),
    {Cpu1, _} = statistics(runtime),
    W1 = now_us(),
    timer:sleep(1000),  % settle: ticks scheduled in the window may still arrive (_common.SETTLE_S)
    Collector ! {report, self()},
    Late = receive {lateness, L} -> L end,
    Ticks = length(Late),
    Wall = (W1 - W0) / 1.0e6,
    Ideal = N * math:log(Max / Min) / (Max - Min),
    Sorted = lists:sort(Late),
    [{cpu_per_tick_us, (Cpu1 - Cpu0) * 1000 / max(Ticks, 1)}, {rate, Ticks / Wall},
     {ideal_rate, Ideal}, {rate_ratio, Ticks / Wall / Ideal},
     {lateness_p50_ms, pct(Sorted, 50) / 1000}, {lateness_p99_ms, pct(Sorted, 99) / 1000},
     {lateness_max_ms, pct(Sorted, 100) / 1000},
     {cpu_percent, (Cpu1 - Cpu0) / 10 / Wall}, {spawn_s, SpawnS}];
%% ---- ping-pong between two processes ----
run(pingpong, N, _) ->
    Pong = spawn(fun pong/0),
    T0 = now_us(),
    ping(Pong, N),
    S = (now_us() - T0) / 1.0e6,
    [{round_trips_per_s, N / S}, {us_per_round_trip, S * 1.0e6 / N}];
%% ---- fan-in: `senders` processes each send N messages to one receiver ----
run(fanin, N, Opts) ->
    Senders = round(maps:get(senders, Opts, 100.0)),
    Self = self(),
    T0 = now_us(),
    spawn_n(Senders, fun() -> send_n(Self, N) end),
    receive_n(Senders * N),
    S = (now_us() - T0) / 1.0e6,
    [{messages_per_s, Senders * N / S}];
%% ---- call/reply: gen_server-style call with a unique ref and a 5 s timeout ----
run(call_reply, N, _) ->
    Server = spawn(fun server/0),
    Samples = lists:sort([call(Server, I) || I <- lists:seq(1, N)]),
    [{us_per_call_p50, pct(Samples, 50) / 1000}, {us_per_call_p99, pct(Samples, 99) / 1000}].

spawn_n(0, _) -> ok;
spawn_n(K, F) -> spawn(F), spawn_n(K - 1, F).

wait_n(0) -> ok;
wait_n(K) -> receive parked -> wait_n(K - 1) end.

receive_n(0) -> ok;
receive_n(K) -> receive {msg, _} -> receive_n(K - 1) end.

send_n(_, 0) -> ok;
send_n(To, K) -> To ! {msg, K}, send_n(To, K - 1).

rss() ->
    {ok, Bin} = file:read_file("/proc/self/statm"),
    [_, Pages | _] = string:lexemes(binary_to_list(Bin), " \n"),
    list_to_integer(Pages) * 4096.

sleep_until(T) ->
    Ms = (T - now_us()) div 1000,
    if Ms > 0 -> timer:sleep(Ms); true -> ok end.

%% Stratified periods, as in bench/_common.py: ticker K draws from the K-th of N slices.
spawn_tickers(0, _, _, _, _) -> ok;
spawn_tickers(K, N, Collector, Min, Max) ->
    Period = Min + (K - 1 + rand:uniform()) / N * (Max - Min),
    Offset = rand:uniform() * Period,
    PeriodUs = round(Period * 1.0e6),
    First = now_us() + round(Offset * 1.0e6),
    spawn(fun() -> ticker(Collector, PeriodUs, First) end),
    spawn_tickers(K - 1, N, Collector, Min, Max).

ticker(Collector, PeriodUs, Deadline) ->
    erlang:send_after((Deadline + 999) div 1000, self(), tick, [{abs, true}]),
    receive
        tick ->
            Collector ! {tick, Deadline},
            ticker(Collector, PeriodUs, Deadline + PeriodUs)
    end.

collector(W0, W1, Acc) ->
    receive
        {tick, Deadline} ->
            Now = now_us(),
            %% Only ticks scheduled in the window count, as in bench/_common.py's TickWindow.
            case Deadline >= W0 andalso Deadline < W1 of
                true -> collector(W0, W1, [Now - Deadline | Acc]);
                false -> collector(W0, W1, Acc)
            end;
        {report, From} ->
            From ! {lateness, Acc}
    end.

pong() ->
    receive
        {ping, From} -> From ! pong, pong();
        stop -> ok
    end.

ping(_, 0) -> ok;
ping(Pong, K) ->
    Pong ! {ping, self()},
    receive pong -> ping(Pong, K - 1) end.

server() ->
    receive
        {call, From, Ref, Msg} -> From ! {Ref, Msg}, server()
    end.

call(Server, Msg) ->
    T0 = erlang:monotonic_time(nanosecond),
    Ref = make_ref(),
    Server ! {call, self(), Ref, Msg},
    receive
        {Ref, Msg} -> erlang:monotonic_time(nanosecond) - T0
    after 5000 -> exit(timeout)
    end.

pct([], _) -> 0;
pct(Sorted, Q) ->
    Len = length(Sorted),
    Rank = max(1, min(Len, ceil(Q / 100 * Len))),
    lists:nth(Rank, Sorted).

json(Metrics) ->
    Parts = [io_lib:format("\"~s\": ~s", [K, fmt(V)]) || {K, V} <- Metrics],
    ["{", lists:join(", ", Parts), "}"].

fmt(V) when is_integer(V) -> integer_to_list(V);
fmt(V) -> float_to_list(float(V), [{decimals, 6}, compact]).
