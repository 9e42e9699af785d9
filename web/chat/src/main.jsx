// The chat page: the AI SDK's useChat with WorkflowChatTransport against wdk's /api/chat
// routes. The first message starts a run; follow-ups carry {runId} in the body so the same run
// (a multi-turn chat workflow) answers them.
//
// What it renders: text, tool calls with their input and output (or error, or denial), and
// tool approval requests with Approve / Deny buttons. A decision is POSTed to the approval's
// hook (/api/hooks/{approvalId}); the turn's stream, which wdk keeps open while the agent
// waits, then carries the tool's output (or denial) and the rest of the answer. useChat's
// addToolApprovalResponse is not used: it belongs to the AI SDK's other protocol (the stream
// ends at the request and the client sends the decision in a new request). Messages with
// nothing to show are not rendered (no empty items), and Send is enabled whenever no turn is
// in flight (also after an error).
//
// A reload resumes: the conversation and the run id live in sessionStorage, and a turn that
// was still streaming is picked up again from the run's stream (useChat's resume, which asks
// the transport for GET /api/chat/{runId}/stream).
//
// Every request the transport makes is recorded in window.__wdkRequests for the browser tests.
import React, { useEffect, useMemo, useRef, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { useChat } from '@ai-sdk/react';
import { WorkflowChatTransport } from '@workflow/ai';
import './chat.css';

const STORE = 'wdk.chat';
window.__wdkRequests = [];

function recordingFetch(input, init) {
  const url = typeof input === 'string' ? input : input.url;
  window.__wdkRequests.push({ method: (init && init.method) || 'GET', url });
  return fetch(input, init);
}

function load() {
  try {
    return JSON.parse(sessionStorage.getItem(STORE)) || {};
  } catch {
    return {};
  }
}

function isTool(part) {
  return part.type === 'dynamic-tool' || part.type.startsWith('tool-');
}

function toolName(part) {
  return part.type === 'dynamic-tool' ? part.toolName : part.type.slice(5);
}

function show(value) {
  return typeof value === 'string' ? value : JSON.stringify(value, null, 2);
}

const STATE_LABEL = {
  'input-streaming': 'preparing',
  'input-available': 'running',
  'approval-requested': 'needs approval',
  'approval-responded': 'answered',
  'output-available': 'done',
  'output-error': 'error',
  'output-denied': 'denied',
};

function Approval({ part }) {
  const [sent, setSent] = useState(null);
  const [error, setError] = useState(null);
  const [reason, setReason] = useState('');
  const decide = async (approved) => {
    setError(null);
    setSent(approved ? 'approved' : 'denied');
    const body = approved ? { approved } : { approved, ...(reason.trim() ? { reason: reason.trim() } : {}) };
    try {
      const resp = await fetch(`/api/hooks/${encodeURIComponent(part.approval.id)}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      if (!resp.ok) throw new Error((await resp.json().catch(() => ({}))).error || `HTTP ${resp.status}`);
    } catch (err) {
      setSent(null);
      setError(String(err.message || err));
    }
  };
  if (sent) return <p className="approval-sent">{sent}, continuing…</p>;
  return (
    <div className="approval">
      <span>Allow this call?</span>
      <input
        className="reason"
        placeholder="reason (if denied)"
        value={reason}
        onChange={(e) => setReason(e.target.value)}
      />
      <button type="button" className="approve" onClick={() => decide(true)}>
        Approve
      </button>
      <button type="button" className="deny" onClick={() => decide(false)}>
        Deny
      </button>
      {error ? <p className="approval-error">{error}</p> : null}
    </div>
  );
}

function Tool({ part }) {
  return (
    <div className="tool" data-tool={toolName(part)} data-state={part.state}>
      <div className="tool-head">
        <span className="tool-name">{toolName(part)}</span>
        <span className={`tool-state s-${part.state}`}>{STATE_LABEL[part.state] || part.state}</span>
      </div>
      {part.input !== undefined ? <pre className="tool-input">{show(part.input)}</pre> : null}
      {part.state === 'approval-requested' ? <Approval part={part} /> : null}
      {part.state === 'output-available' ? <pre className="tool-output">{show(part.output)}</pre> : null}
      {part.state === 'output-error' ? <pre className="tool-error">{part.errorText}</pre> : null}
      {part.state === 'output-denied' ? (
        <p className="tool-denied">denied{part.approval && part.approval.reason ? `: ${part.approval.reason}` : ''}</p>
      ) : null}
    </div>
  );
}

function Parts({ message }) {
  return message.parts.map((part, i) => {
    if (part.type === 'text') return <span key={i} className="text">{part.text}</span>;
    if (isTool(part)) return <Tool key={part.toolCallId || i} part={part} />;
    return null;
  });
}

function visible(message) {
  return message.parts.some((part) => (part.type === 'text' && part.text) || isTool(part));
}

function Chat() {
  const saved = useMemo(load, []);
  const runId = useRef(saved.runId || null);
  const [input, setInput] = useState('');
  const transport = useMemo(
    () =>
      new WorkflowChatTransport({
        api: '/api/chat',
        fetch: recordingFetch,
        onChatSendMessage: (response) => {
          runId.current = response.headers.get('x-workflow-run-id');
        },
      }),
    [],
  );
  const resume = Boolean(saved.inFlight && saved.runId);
  const { messages, sendMessage, status, error } = useChat({
    // Resuming asks the transport for the stream of chat `id`: the run's id.
    ...(resume ? { id: saved.runId } : {}),
    messages: saved.messages || [],
    transport,
    resume,
  });

  useEffect(() => {
    // Keep what a reload needs: finished turns, and the question of a turn still streaming.
    const busy = status === 'submitted' || status === 'streaming';
    let kept = messages;
    if (busy) {
      const lastUser = messages.map((m) => m.role).lastIndexOf('user');
      kept = messages.slice(0, lastUser + 1);
    }
    const inFlight = busy && Boolean(runId.current);
    sessionStorage.setItem(STORE, JSON.stringify({ runId: runId.current, messages: kept, inFlight }));
  }, [messages, status]);

  const onSubmit = (event) => {
    event.preventDefault();
    if (!input.trim()) return;
    const body = runId.current ? { runId: runId.current } : {};
    sendMessage({ text: input }, { body });
    setInput('');
  };

  const newChat = () => {
    sessionStorage.removeItem(STORE);
    window.location.reload();
  };

  const busy = status === 'submitted' || status === 'streaming';
  return (
    <main>
      <header>
        <h1>wdk chat</h1>
        <button type="button" className="new-chat" onClick={newChat} disabled={busy}>
          New chat
        </button>
      </header>
      <ol id="messages">
        {messages.filter(visible).map((message) => (
          <li key={message.id} className="message" data-role={message.role}>
            <Parts message={message} />
          </li>
        ))}
      </ol>
      <p id="status" data-status={status}>
        {status === 'submitted' ? 'thinking…' : status === 'streaming' ? 'answering…' : status}
      </p>
      {error ? <p id="error">{String(error.message || error)}</p> : null}
      <form onSubmit={onSubmit}>
        <input
          id="input"
          value={input}
          placeholder="Ask something"
          autoComplete="off"
          onChange={(e) => setInput(e.target.value)}
        />
        <button id="send" type="submit" disabled={busy}>
          Send
        </button>
      </form>
    </main>
  );
}

createRoot(document.getElementById('root')).render(<Chat />);
